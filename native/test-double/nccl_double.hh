// The layout of the NCCL double's communicator, which the TensorRT double's runtime reads to
// check what setCommunicator was given (both are redraft's doubles; no real NCCL involved).
#pragma once
#include <cstdint>

namespace rdd {
constexpr uint32_t kNcclDoubleMagic = 0x4e43434cu;  // "NCCL"
struct NcclDoubleComm {
  uint32_t magic = kNcclDoubleMagic;
  int nranks = 0;
  int rank = 0;
  char id[128] = {};
};
}  // namespace rdd
