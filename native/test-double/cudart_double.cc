// redraft's CUDA-runtime double: a stand-in for libcudart exporting the functions redraft's
// TensorRT runtime resolves (CUDA_LIB=.../libredraft_cudart_double.so), on host memory. It is
// compiled against the CUDA headers' declarations, so the signatures are the real ones.
// "Device" memory is host memory the double allocated and tracks; a copy whose device side is not
// inside one allocation (or runs past its end) fails with cudaErrorInvalidValue, as a copy to an
// unknown address would on a GPU. Streams are handles; work runs at once (copies are synchronous).
// REDRAFT_CUDA_DOUBLE_FAIL=malloc,memcpy,stream,sync,device injects failures;
// REDRAFT_CUDA_DOUBLE_SYNC_MS makes cudaStreamSynchronize take that long (a slow stream, for cancel);
// REDRAFT_CUDA_DOUBLE_MEMORY caps the "device" memory (bytes, default 4 GiB).
// redraft_cuda_double_extent(p, &bytes) tells the TensorRT double how far an allocation reaches.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <string>

namespace {
std::mutex gM;
std::map<const char*, size_t> gAllocs;  // base -> size
std::set<void*> gStreams;
size_t gUsed = 0, gPeak = 0;
unsigned long long gMemcpyBytes[4] = {0, 0, 0, 0};  // by cudaMemcpyKind 0..3
unsigned long long gMemcpyCalls = 0, gMallocCalls = 0, gFreeCalls = 0, gSyncCalls = 0;
cudaError_t gLast = cudaSuccess;

bool faulty(const char* what) {
  const char* e = std::getenv("REDRAFT_CUDA_DOUBLE_FAIL");
  if (!e) return false;
  std::string s = std::string(",") + e + ",", w = std::string(",") + what + ",";
  s.erase(std::remove(s.begin(), s.end(), ' '), s.end());
  return s.find(w) != std::string::npos;
}
size_t limit() {
  const char* e = std::getenv("REDRAFT_CUDA_DOUBLE_MEMORY");
  return e && *e ? static_cast<size_t>(std::strtoull(e, nullptr, 10)) : (size_t(4) << 30);
}
cudaError_t ret(cudaError_t e) {
  if (e != cudaSuccess) gLast = e;
  return e;
}
/** The allocation holding [p, p + n), or null (gM held). */
bool inside(const void* p, size_t n) {
  auto c = static_cast<const char*>(p);
  auto it = gAllocs.upper_bound(c);
  if (it == gAllocs.begin()) return false;
  --it;
  return c >= it->first && c + n <= it->first + it->second;
}
}  // namespace

#define RDC extern "C" __attribute__((visibility("default")))

extern "C" {
__attribute__((visibility("default"))) int redraft_cuda_double = 1;  // "this is the double", for redraft doctor
}

/** Bytes from p to the end of its allocation (0 and false when p is not device memory). */
RDC bool redraft_cuda_double_extent(const void* p, size_t* bytes) {
  std::lock_guard<std::mutex> l(gM);
  auto c = static_cast<const char*>(p);
  auto it = gAllocs.upper_bound(c);
  *bytes = 0;
  if (it == gAllocs.begin()) return false;
  --it;
  if (c < it->first || c >= it->first + it->second) return false;
  *bytes = static_cast<size_t>(it->first + it->second - c);
  return true;
}

/** Counters, for tests: calls and bytes by copy kind, bytes in use and at peak. */
RDC void redraft_cuda_double_stats(unsigned long long out[10]) {
  std::lock_guard<std::mutex> l(gM);
  unsigned long long v[10] = {gMallocCalls, gFreeCalls, gMemcpyCalls, gSyncCalls, gMemcpyBytes[1], gMemcpyBytes[2], gMemcpyBytes[3], gUsed, gPeak, gAllocs.size()};
  std::memcpy(out, v, sizeof v);
}

extern "C" {

__attribute__((visibility("default"))) cudaError_t cudaMalloc(void** devPtr, size_t size) {
  std::lock_guard<std::mutex> l(gM);
  gMallocCalls++;
  if (!devPtr) return ret(cudaErrorInvalidValue);
  *devPtr = nullptr;
  if (faulty("malloc") || gUsed + size > limit()) return ret(cudaErrorMemoryAllocation);
  size_t n = size ? size : 1;
  void* p = std::calloc(1, n);
  if (!p) return ret(cudaErrorMemoryAllocation);
  gAllocs[static_cast<const char*>(p)] = n;
  gUsed += n;
  gPeak = std::max(gPeak, gUsed);
  *devPtr = p;
  return cudaSuccess;
}

__attribute__((visibility("default"))) cudaError_t cudaFree(void* devPtr) {
  std::lock_guard<std::mutex> l(gM);
  gFreeCalls++;
  if (!devPtr) return cudaSuccess;
  auto it = gAllocs.find(static_cast<const char*>(devPtr));
  if (it == gAllocs.end()) return ret(cudaErrorInvalidValue);
  gUsed -= it->second;
  gAllocs.erase(it);
  std::free(devPtr);
  return cudaSuccess;
}

static cudaError_t copy(void* dst, const void* src, size_t count, cudaMemcpyKind kind) {
  std::lock_guard<std::mutex> l(gM);
  gMemcpyCalls++;
  if (faulty("memcpy")) return ret(cudaErrorLaunchFailure);
  if (count == 0) return cudaSuccess;
  if (!dst || !src) return ret(cudaErrorInvalidValue);
  bool dDev = inside(dst, count), sDev = inside(src, count);
  if (kind == cudaMemcpyDefault) kind = dDev && sDev ? cudaMemcpyDeviceToDevice : dDev ? cudaMemcpyHostToDevice : sDev ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost;
  bool ok = kind == cudaMemcpyHostToDevice ? dDev && !inside(src, 1)
            : kind == cudaMemcpyDeviceToHost ? sDev && !inside(dst, 1)
            : kind == cudaMemcpyDeviceToDevice ? dDev && sDev
            : kind == cudaMemcpyHostToHost;
  if (!ok) return ret(cudaErrorInvalidValue);
  std::memmove(dst, src, count);
  if (kind >= 0 && kind < 4) gMemcpyBytes[kind] += count;
  return cudaSuccess;
}

__attribute__((visibility("default"))) cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t count, enum cudaMemcpyKind kind, cudaStream_t stream) {
  {
    std::lock_guard<std::mutex> l(gM);
    if (stream && !gStreams.count(stream)) return ret(cudaErrorInvalidResourceHandle);
  }
  return copy(dst, src, count, kind);
}
__attribute__((visibility("default"))) cudaError_t cudaMemcpy(void* dst, const void* src, size_t count, enum cudaMemcpyKind kind) { return copy(dst, src, count, kind); }

__attribute__((visibility("default"))) cudaError_t cudaStreamCreate(cudaStream_t* pStream) {
  std::lock_guard<std::mutex> l(gM);
  if (!pStream) return ret(cudaErrorInvalidValue);
  if (faulty("stream")) return ret(cudaErrorNotPermitted);
  auto* s = reinterpret_cast<cudaStream_t>(new char(0));
  gStreams.insert(s);
  *pStream = s;
  return cudaSuccess;
}
__attribute__((visibility("default"))) cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  std::lock_guard<std::mutex> l(gM);
  if (!gStreams.erase(stream)) return ret(cudaErrorInvalidResourceHandle);
  delete reinterpret_cast<char*>(stream);
  return cudaSuccess;
}
__attribute__((visibility("default"))) cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  if (const char* ms = std::getenv("REDRAFT_CUDA_DOUBLE_SYNC_MS")) std::this_thread::sleep_for(std::chrono::milliseconds(std::atoi(ms)));  // a slow stream
  std::lock_guard<std::mutex> l(gM);
  gSyncCalls++;
  if (stream && !gStreams.count(stream)) return ret(cudaErrorInvalidResourceHandle);
  if (faulty("sync")) return ret(cudaErrorLaunchFailure);
  return cudaSuccess;
}
__attribute__((visibility("default"))) cudaError_t cudaGetDeviceCount(int* count) {
  if (!count) return ret(cudaErrorInvalidValue);
  if (faulty("device")) {
    *count = 0;
    return ret(cudaErrorNoDevice);
  }
  *count = 1;
  return cudaSuccess;
}
__attribute__((visibility("default"))) cudaError_t cudaRuntimeGetVersion(int* v) {
  if (!v) return ret(cudaErrorInvalidValue);
  *v = CUDART_VERSION;
  return cudaSuccess;
}
__attribute__((visibility("default"))) cudaError_t cudaMemGetInfo(size_t* freeBytes, size_t* total) {
  std::lock_guard<std::mutex> l(gM);
  if (!freeBytes || !total) return ret(cudaErrorInvalidValue);
  *total = limit();
  *freeBytes = *total > gUsed ? *total - gUsed : 0;
  return cudaSuccess;
}
__attribute__((visibility("default"))) cudaError_t cudaGetLastError(void) {
  std::lock_guard<std::mutex> l(gM);
  cudaError_t e = gLast;
  gLast = cudaSuccess;
  return e;
}
__attribute__((visibility("default"))) const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error (redraft CUDA double)";
    case cudaErrorInvalidValue: return "invalid argument (redraft CUDA double: not inside one device allocation)";
    case cudaErrorMemoryAllocation: return "out of memory (redraft CUDA double)";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected (redraft CUDA double, REDRAFT_CUDA_DOUBLE_FAIL=device)";
    case cudaErrorLaunchFailure: return "unspecified launch failure (redraft CUDA double, injected)";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle (redraft CUDA double: unknown stream)";
    case cudaErrorNotPermitted: return "operation not permitted (redraft CUDA double, injected)";
    default: return "error (redraft CUDA double)";
  }
}

}  // extern "C"
