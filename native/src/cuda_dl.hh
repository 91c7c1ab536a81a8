// The CUDA runtime, dlopen'ed (never linked): libcudart.so.13 / .12 / libcudart.so, or $CUDA_LIB.
// Only the functions redraft's TensorRT runtime uses are resolved, by name; the signatures are
// the CUDA headers' (the function-pointer types are taken from their declarations).
#pragma once
#include <cuda_runtime_api.h>
#include <dlfcn.h>

#include "dl_open.hh"

#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

namespace redraft {

struct CudaApi {
  decltype(&::cudaMalloc) malloc_ = nullptr;
  decltype(&::cudaFree) free_ = nullptr;
  decltype(&::cudaMemcpyAsync) memcpyAsync = nullptr;
  decltype(&::cudaStreamCreate) streamCreate = nullptr;
  decltype(&::cudaStreamDestroy) streamDestroy = nullptr;
  decltype(&::cudaStreamSynchronize) streamSynchronize = nullptr;
  decltype(&::cudaGetErrorString) getErrorString = nullptr;
  decltype(&::cudaGetDeviceCount) getDeviceCount = nullptr;
  decltype(&::cudaRuntimeGetVersion) runtimeGetVersion = nullptr;
  decltype(&::cudaMemGetInfo) memGetInfo = nullptr;  // optional
  void* handle = nullptr;
  std::string library, error;
  std::vector<std::string> tried;
  int version = 0;       // cudaRuntimeGetVersion: 1000*major + 10*minor
  bool isDouble = false;  // redraft's CUDA-runtime double (host memory), not a GPU

  std::string why(cudaError_t e) const {
    const char* s = getErrorString ? getErrorString(e) : nullptr;
    return std::string(s ? s : "CUDA error") + " (" + std::to_string(static_cast<int>(e)) + ")";
  }
};

/** Loads the CUDA runtime once (thread-safe); `api.handle` is null with `api.error` on failure. */
inline const CudaApi& loadCuda(const std::string& explicitPath = "") {
  static CudaApi api;
  static std::mutex m;
  std::lock_guard<std::mutex> l(m);
  if (api.handle) return api;
  api.tried.clear();
  std::string errors;
  CudaApi a;
  // RTLD_GLOBAL (dlopenFirst): TensorRT (or its double) finds the same CUDA runtime.
  void* h = dlopenFirst(libraryCandidates(explicitPath, "CUDA_LIB", {"libcudart.so.13", "libcudart.so.12", "libcudart.so"}), api.tried, errors, [&](void* lib, const std::string& n) {
    a = CudaApi{};
    bool ok = true;
    auto sym = [&](auto& fn, const char* name, bool required = true) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib, name));
      if (!fn && required) {
        ok = false;
        errors += (errors.empty() ? "" : "; ") + n + ": no " + name;
      }
    };
    sym(a.malloc_, "cudaMalloc");
    sym(a.free_, "cudaFree");
    sym(a.memcpyAsync, "cudaMemcpyAsync");
    sym(a.streamCreate, "cudaStreamCreate");
    sym(a.streamDestroy, "cudaStreamDestroy");
    sym(a.streamSynchronize, "cudaStreamSynchronize");
    sym(a.getErrorString, "cudaGetErrorString");
    sym(a.getDeviceCount, "cudaGetDeviceCount");
    sym(a.runtimeGetVersion, "cudaRuntimeGetVersion");
    sym(a.memGetInfo, "cudaMemGetInfo", false);
    return ok;
  });
  if (!h) {
    api.error = errors;
    return api;
  }
  a.handle = h;
  a.library = api.tried.back();
  a.isDouble = dlsym(h, "redraft_cuda_double") != nullptr;
  int v = 0;
  if (a.runtimeGetVersion(&v) == cudaSuccess) a.version = v;
  a.tried = api.tried;
  api = a;
  return api;
}

}  // namespace redraft
