// redraft's NCCL double (libredraft_nccl_double.so, NCCL_LIB=...): the communicator setup C ABI
// of NCCL (nccl.h) without a network or a GPU. ncclGetUniqueId gives 128 bytes that name the
// double and are unique per call; ncclCommInitRank checks its arguments as NCCL documents them
// (0 <= rank < nranks, nranks >= 1, an id from ncclGetUniqueId) and returns a communicator that
// records them, without waiting for the other ranks (each rank is its own process, and the
// double moves no data). REDRAFT_NCCL_DOUBLE_FAIL=init makes ncclCommInitRank fail.
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include "nccl_double.hh"

namespace {
std::atomic<unsigned> gCalls{0};
const char kTag[] = "redraft-nccl-double";
}  // namespace

extern "C" {
struct RddNcclId {
  char internal[128];
};
__attribute__((visibility("default"))) int redraft_nccl_double = 1;
__attribute__((visibility("default"))) const char* ncclGetErrorString(int r) {
  switch (r) {
    case 0: return "no error";
    case 4: return "invalid argument";
    case 5: return "invalid usage";
    default: return "unhandled system error";
  }
}
__attribute__((visibility("default"))) int ncclGetUniqueId(RddNcclId* id) {
  if (!id) return 4;
  std::memset(id->internal, 0, sizeof id->internal);
  std::memcpy(id->internal, kTag, sizeof kTag);
  std::string n = std::to_string(static_cast<unsigned long>(std::rand())) + ":" + std::to_string(gCalls++);
  std::memcpy(id->internal + 32, n.c_str(), n.size() < 90 ? n.size() : 90);
  return 0;
}
__attribute__((visibility("default"))) int ncclCommInitRank(void** comm, int nranks, RddNcclId id, int rank) {
  if (!comm) return 4;
  *comm = nullptr;
  const char* f = std::getenv("REDRAFT_NCCL_DOUBLE_FAIL");
  if (f && std::strstr(f, "init")) return 2;
  if (nranks < 1 || rank < 0 || rank >= nranks) return 4;
  if (std::memcmp(id.internal, kTag, sizeof kTag) != 0) return 5;  // not an id of ncclGetUniqueId
  auto* c = new rdd::NcclDoubleComm();
  c->nranks = nranks;
  c->rank = rank;
  std::memcpy(c->id, id.internal, sizeof c->id);
  *comm = c;
  return 0;
}
__attribute__((visibility("default"))) int ncclCommCount(void* comm, int* n) {
  auto* c = static_cast<rdd::NcclDoubleComm*>(comm);
  if (!c || !n || c->magic != rdd::kNcclDoubleMagic) return 4;
  *n = c->nranks;
  return 0;
}
__attribute__((visibility("default"))) int ncclCommUserRank(void* comm, int* r) {
  auto* c = static_cast<rdd::NcclDoubleComm*>(comm);
  if (!c || !r || c->magic != rdd::kNcclDoubleMagic) return 4;
  *r = c->rank;
  return 0;
}
__attribute__((visibility("default"))) int ncclCommDestroy(void* comm) {
  auto* c = static_cast<rdd::NcclDoubleComm*>(comm);
  if (!c || c->magic != rdd::kNcclDoubleMagic) return 4;
  c->magic = 0;
  delete c;
  return 0;
}
}
