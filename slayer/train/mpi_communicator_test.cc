// MpiCommunicator in a singleton job (this test runs without mpirun, as a
// job of size 1); two ranks and a failing rank are covered end to end by
// tools/distributed_test.sh under mpirun.
#include "slayer/train/mpi_communicator.h"

#include <cstdlib>
#include <memory>
#include <vector>

#include "gtest/gtest.h"

namespace slayer {
namespace train {
namespace {

// MPI can be initialised once per process: one session for all tests.
MpiSession* session = nullptr;

class MpiEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<MpiSession>> s = MpiSession::Start();
    ASSERT_TRUE(s.ok()) << s.status();
    owned_ = *std::move(s);
    session = owned_.get();
  }
  void TearDown() override {
    session = nullptr;
    owned_.reset();
  }

 private:
  std::unique_ptr<MpiSession> owned_;
};

const ::testing::Environment* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new MpiEnvironment);

std::unique_ptr<MpiCommunicator> Singleton() {
  MpiOptions options;
  options.timeout_s = 10;
  absl::StatusOr<std::unique_ptr<MpiCommunicator>> c = MpiCommunicator::Create(*session, options);
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *std::move(c) : nullptr;
}

TEST(MpiCommunicatorTest, SingletonJobWithoutMpirunHasOneRank) {
  ASSERT_NE(session, nullptr);
  EXPECT_EQ(session->world_rank(), 0);
  EXPECT_EQ(session->world_size(), 1);
  EXPECT_FALSE(session->host().empty());
  std::unique_ptr<MpiCommunicator> c = Singleton();
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->rank(), 0);
  EXPECT_EQ(c->size(), 1);
  EXPECT_EQ(c->local_rank(), 0);
  EXPECT_EQ(c->local_size(), 1);
  EXPECT_FALSE(c->ReducesOnDevice(Device::kCuda));
}

TEST(MpiCommunicatorTest, CollectivesOfOneRankKeepTheData) {
  std::unique_ptr<MpiCommunicator> c = Singleton();
  ASSERT_NE(c, nullptr);
  std::vector<float> f = {1.5f, -2.0f, 3.25f};
  ASSERT_TRUE(c->AllReduceSum(absl::MakeSpan(f)).ok());
  EXPECT_EQ(f, (std::vector<float>{1.5f, -2.0f, 3.25f}));
  std::vector<double> d = {0.1, 1e300};
  ASSERT_TRUE(c->AllReduceSum(absl::MakeSpan(d)).ok());
  EXPECT_EQ(d, (std::vector<double>{0.1, 1e300}));
  ASSERT_TRUE(c->Broadcast(absl::MakeSpan(f), 0).ok());
  EXPECT_EQ(f[2], 3.25f);
  std::vector<char> bytes = {'i', 'd'};
  ASSERT_TRUE(c->BroadcastBytes(absl::MakeSpan(bytes), 0).ok());
  EXPECT_EQ(bytes[1], 'd');
  std::vector<float> empty;
  EXPECT_TRUE(c->AllReduceSum(absl::MakeSpan(empty)).ok());
  EXPECT_EQ(c->collectives(), 5);
}

TEST(MpiCommunicatorTest, BroadcastFromANonRankFails) {
  std::unique_ptr<MpiCommunicator> c = Singleton();
  ASSERT_NE(c, nullptr);
  std::vector<float> f = {1};
  absl::Status s = c->Broadcast(absl::MakeSpan(f), 1);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("root 1 is not a rank of a job of size 1"), std::string::npos) << s;
}

TEST(MpiCommunicatorTest, SecondSessionIsRefused) {
  absl::StatusOr<std::unique_ptr<MpiSession>> again = MpiSession::Start();
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(again.status().message().find("already initialised"), std::string::npos)
      << again.status();
}

TEST(MpiOptionsTest, ReadsTimeoutAndFaultFromTheEnvironment) {
  unsetenv("SLAYER_MPI_TIMEOUT_S");
  unsetenv("SLAYER_MPI_TEST_FAULT");
  absl::StatusOr<MpiOptions> o = MpiOptions::FromEnvironment();
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->timeout_s, 120);
  EXPECT_EQ(o->fault, MpiOptions::Fault::kNone);

  setenv("SLAYER_MPI_TIMEOUT_S", "2.5", 1);
  setenv("SLAYER_MPI_TEST_FAULT", "hang:1:7", 1);
  o = MpiOptions::FromEnvironment();
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->timeout_s, 2.5);
  EXPECT_EQ(o->fault, MpiOptions::Fault::kHang);
  EXPECT_EQ(o->fault_rank, 1);
  EXPECT_EQ(o->fault_after, 7);

  setenv("SLAYER_MPI_TEST_FAULT", "exit:0:1", 1);
  o = MpiOptions::FromEnvironment();
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->fault, MpiOptions::Fault::kExit);
  unsetenv("SLAYER_MPI_TEST_FAULT");
}

TEST(MpiOptionsTest, RejectsMalformedValuesNamingTheVariable) {
  for (const char* bad : {"0", "-3", "soon", "nan"}) {
    setenv("SLAYER_MPI_TIMEOUT_S", bad, 1);
    absl::StatusOr<MpiOptions> o = MpiOptions::FromEnvironment();
    EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(o.status().message().find("SLAYER_MPI_TIMEOUT_S"), std::string::npos);
  }
  unsetenv("SLAYER_MPI_TIMEOUT_S");
  for (const char* bad : {"crash:1:2", "hang:1", "hang:-1:2", "exit:1:0", "exit:a:b"}) {
    setenv("SLAYER_MPI_TEST_FAULT", bad, 1);
    absl::StatusOr<MpiOptions> o = MpiOptions::FromEnvironment();
    EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(o.status().message().find("expected exit:RANK:N or hang:RANK:N"), std::string::npos);
  }
  unsetenv("SLAYER_MPI_TEST_FAULT");
}

}  // namespace
}  // namespace train
}  // namespace slayer
