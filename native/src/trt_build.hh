#pragma once
#include <napi.h>
#include <string>
#include <vector>

namespace redraft {
struct LoadResult {
  bool ok = false;
  std::string library, version, error;
  std::vector<std::string> tried;
};
// dlopen libnvinfer (TENSORRT_LIB, then .so.10, .so.11, .so); resolves createInferBuilder_INTERNAL.
LoadResult loadTensorRT(const std::string& explicitPath);
bool haveTrtHeaders();
std::string headersVersion();
// Replays the plan on a real network and builds a serialized engine on a worker thread.
Napi::Value buildEngine(const Napi::CallbackInfo& info);
}  // namespace redraft
