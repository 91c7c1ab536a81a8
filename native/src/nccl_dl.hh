// NCCL, dlopen'ed (never linked): $NCCL_LIB, else libnccl.so.2 / libnccl.so. redraft needs only
// the communicator setup a tensor-parallel TensorRT engine takes (IExecutionContext::
// setCommunicator, TensorRT 10.16+): ncclGetUniqueId on rank 0, ncclCommInitRank on every rank,
// ncclCommCount / ncclCommUserRank to check, ncclCommDestroy. NCCL's headers are not needed: the
// declarations below are NCCL's documented C ABI (nccl.h: ncclUniqueId is 128 opaque bytes).
#pragma once
#include <dlfcn.h>

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
  std::vector<std::string> names;
  if (!explicitPath.empty()) names.push_back(explicitPath);
  if (const char* e = std::getenv("NCCL_LIB"))
    if (*e) names.push_back(e);
  for (const char* n : {"libnccl.so.2", "libnccl.so"}) names.push_back(n);
  api.tried.clear();
  std::string errors;
  for (const auto& n : names) {
    api.tried.push_back(n);
    // RTLD_GLOBAL: TensorRT's DistCollective runner uses the same NCCL as the communicator.
    void* h = dlopen(n.c_str(), RTLD_NOW | RTLD_GLOBAL);
    if (!h) {
      const char* e = dlerror();
      errors += (errors.empty() ? "" : "; ") + std::string(e ? e : n + ": not found");
      continue;
    }
    NcclApi a;
    bool ok = true;
    auto sym = [&](auto& f, const char* name) {
      f = reinterpret_cast<std::remove_reference_t<decltype(f)>>(dlsym(h, name));
      if (!f) ok = false;
    };
    sym(a.getUniqueId, "ncclGetUniqueId");
    sym(a.commInitRank, "ncclCommInitRank");
    sym(a.commDestroy, "ncclCommDestroy");
    sym(a.commCount, "ncclCommCount");
    sym(a.commUserRank, "ncclCommUserRank");
    sym(a.getErrorString, "ncclGetErrorString");
    if (!ok) {
      errors += (errors.empty() ? "" : "; ") + n + ": not an NCCL library (ncclCommInitRank and friends missing)";
      dlclose(h);
      continue;
    }
    a.handle = h;
    a.library = n;
    a.tried = api.tried;
    api = a;
    return api;
  }
  api.error = errors;
  return api;
}

}  // namespace redraft
