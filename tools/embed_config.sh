#!/usr/bin/env bash
# embed_config.sh IN.pbtxt NAME OUT.h: the config text as a C++ string constant.
set -euo pipefail
{
  echo "// Generated from $1 by tools/embed_config.sh. Do not edit."
  echo "#ifndef SLAYER_TOOLS_DEFAULT_CONFIG_H_"
  echo "#define SLAYER_TOOLS_DEFAULT_CONFIG_H_"
  echo "inline constexpr char kDefaultTrainingConfigName[] = \"$2\";"
  echo "inline constexpr char kDefaultTrainingConfig[] = R\"slayer_pbtxt("
  cat "$1"
  echo ")slayer_pbtxt\";"
  echo "#endif"
} > "$3"
