// A seeded, reproducible random number generator (xoshiro256**) with
// independent streams: the same (seed, stream) gives the same numbers on
// every machine and every run, whatever the thread count.
//
//   Rng rng(/*seed=*/42);
//   Rng dropout = rng.Stream(7);      // independent of rng's own sequence
//   float u = dropout.Uniform();      // [0, 1)
#ifndef SLAYER_CORE_RANDOM_H_
#define SLAYER_CORE_RANDOM_H_

#include <cstdint>

namespace slayer {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0, uint64_t stream = 0);

  // A generator for `stream`, derived from this one's seed (not its state).
  Rng Stream(uint64_t stream) const { return Rng(seed_, stream_ * 0x9E3779B97F4A7C15ull + stream + 1); }

  uint64_t NextU64();
  uint32_t NextU32() { return static_cast<uint32_t>(NextU64() >> 32); }
  // Uniform in [0, 1) with 24 random bits.
  float Uniform() { return static_cast<float>(NextU64() >> 40) * 0x1.0p-24f; }
  double UniformDouble() { return static_cast<double>(NextU64() >> 11) * 0x1.0p-53; }
  float Uniform(float lo, float hi) { return lo + (hi - lo) * Uniform(); }
  // Uniform integer in [0, n), n > 0, without modulo bias.
  uint64_t UniformInt(uint64_t n);
  bool Bernoulli(double p) { return UniformDouble() < p; }
  // Standard normal (Box-Muller).
  double Normal();

  uint64_t seed() const { return seed_; }

  // The full generator state, for checkpoints that resume bit-for-bit.
  struct State {
    uint64_t s[4];
  };
  State state() const { return {{s_[0], s_[1], s_[2], s_[3]}}; }
  void set_state(const State& state);

 private:
  uint64_t seed_;
  uint64_t stream_;
  uint64_t s_[4];
};

// SplitMix64 finaliser: a good 64-bit mix for hashing seeds.
uint64_t SplitMix64(uint64_t x);

}  // namespace slayer

#endif  // SLAYER_CORE_RANDOM_H_
