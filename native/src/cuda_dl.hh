// The CUDA runtime, dlopen'ed (never linked): libcudart.so.13 / .12 / libcudart.so, or $CUDA_LIB.
// Only the functions redraft's TensorRT runtime uses are resolved, by name; the signatures are
// the CUDA headers' (the function-pointer types are taken from their declarations).
#pragma once
#include <cuda_runtime_api.h>
#include <dlfcn.h>

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
  std::vector<std::string> names;
  if (!explicitPath.empty()) names.push_back(explicitPath);
  if (const char* e = std::getenv("CUDA_LIB"))
    if (*e) names.push_back(e);
  for (const char* n : {"libcudart.so.13", "libcudart.so.12", "libcudart.so"}) names.push_back(n);
  api.tried.clear();
  std::string errors;
  for (const auto& n : names) {
    api.tried.push_back(n);
    // RTLD_GLOBAL: TensorRT (or its double) finds the same CUDA runtime.
    void* h = dlopen(n.c_str(), RTLD_NOW | RTLD_GLOBAL);
    if (!h) {
      const char* e = dlerror();
      errors += (errors.empty() ? "" : "; ") + std::string(e ? e : n + ": not found");
      continue;
    }
    CudaApi a;
    bool ok = true;
    auto sym = [&](auto& fn, const char* name, bool required = true) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(h, name));
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
    if (!ok) {
      dlclose(h);
      continue;
    }
    a.handle = h;
    a.library = n;
    a.isDouble = dlsym(h, "redraft_cuda_double") != nullptr;
    int v = 0;
    if (a.runtimeGetVersion(&v) == cudaSuccess) a.version = v;
    a.tried = api.tried;
    api = a;
    return api;
  }
  api.error = errors;
  return api;
}

}  // namespace redraft
