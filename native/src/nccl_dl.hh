// NCCL, dlopen'ed (never linked): $NCCL_LIB, else libnccl.so.2 / libnccl.so. redraft needs only
// the communicator setup a tensor-parallel TensorRT engine takes (IExecutionContext::
// setCommunicator, TensorRT 10.16+): ncclGetUniqueId on rank 0, ncclCommInitRank on every rank,
// ncclCommCount / ncclCommUserRank to check, ncclCommDestroy. NCCL's headers are not needed: the
// declarations below are NCCL's documented C ABI (nccl.h: ncclUniqueId is 128 opaque bytes).
#pragma once
#include <dlfcn.h>

#include "dl_open.hh"

#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

namespace redraft {

constexpr int kNcclUniqueIdBytes = 128;  // NCCL_UNIQUE_ID_BYTES
struct NcclUniqueId {
  char internal[kNcclUniqueIdBytes];
};
using NcclComm = void*;  // ncclComm_t
using NcclResult = int;  // ncclResult_t (ncclSuccess = 0)

struct NcclApi {
  NcclResult (*getUniqueId)(NcclUniqueId*) = nullptr;
  NcclResult (*commInitRank)(NcclComm*, int, NcclUniqueId, int) = nullptr;
  NcclResult (*commDestroy)(NcclComm) = nullptr;
  NcclResult (*commCount)(NcclComm, int*) = nullptr;
  NcclResult (*commUserRank)(NcclComm, int*) = nullptr;
  const char* (*getErrorString)(NcclResult) = nullptr;
  void* handle = nullptr;
  std::string library, error;
  std::vector<std::string> tried;
  std::string why(NcclResult r) const {
    const char* s = getErrorString ? getErrorString(r) : nullptr;
    return std::string(s ? s : "NCCL error") + " (" + std::to_string(r) + ")";
  }
};

/** Loads NCCL once (thread-safe); `api.handle` is null with `api.error` on failure. */
inline const NcclApi& loadNccl(const std::string& explicitPath = "") {
  static NcclApi api;
  static std::mutex m;
  std::lock_guard<std::mutex> l(m);
  if (api.handle) return api;
  api.tried.clear();
  std::string errors;
  NcclApi a;
  // RTLD_GLOBAL (dlopenFirst): TensorRT's DistCollective runner uses the same NCCL as the communicator.
  void* h = dlopenFirst(libraryCandidates(explicitPath, "NCCL_LIB", {"libnccl.so.2", "libnccl.so"}), api.tried, errors, [&](void* lib, const std::string& n) {
    a = NcclApi{};
    bool ok = true;
    auto sym = [&](auto& f, const char* name) {
      f = reinterpret_cast<std::remove_reference_t<decltype(f)>>(dlsym(lib, name));
      if (!f) ok = false;
    };
    sym(a.getUniqueId, "ncclGetUniqueId");
    sym(a.commInitRank, "ncclCommInitRank");
    sym(a.commDestroy, "ncclCommDestroy");
    sym(a.commCount, "ncclCommCount");
    sym(a.commUserRank, "ncclCommUserRank");
    sym(a.getErrorString, "ncclGetErrorString");
    if (!ok) errors += (errors.empty() ? "" : "; ") + n + ": not an NCCL library (ncclCommInitRank and friends missing)";
    return ok;
  });
  if (!h) {
    api.error = errors;
    return api;
  }
  a.handle = h;
  a.library = api.tried.back();
  a.tried = api.tried;
  api = a;
  return api;
}

}  // namespace redraft
