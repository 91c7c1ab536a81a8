#pragma once
#include <napi.h>

namespace redraft {
// redraft's TensorRT runtime: IRuntime::deserializeCudaEngine, the engine's I/O, and execution
// contexts (setInputShape, setTensorAddress, enqueueV3 on a CUDA stream) with device buffers
// from the dlopen'ed CUDA runtime. Adds loadRuntime and deserializeEngine to the exports.
void registerRuntime(Napi::Env env, Napi::Object exports);
}  // namespace redraft
