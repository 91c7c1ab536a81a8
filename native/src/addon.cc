// redraft's native addon: decodes TensorRT call plans and builds engines through TensorRT's
// network-definition API. Without TensorRT it still loads and answers (info, describePlan).
#include <napi.h>

#include <cstdlib>

#include "plan.hh"
#include "trt_build.hh"
#include "trt_runtime.hh"

namespace {

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto o = Napi::Object::New(env);
  o.Set("addonVersion", "0.1.0");
  o.Set("tensorrtHeaders", redraft::haveTrtHeaders());
  if (redraft::haveTrtHeaders()) o.Set("headersVersion", redraft::headersVersion());
#ifdef REDRAFT_HAVE_CUDA_HEADERS
  o.Set("cudaHeaders", true);  // found at configure time, whether or not TensorRT's were
#else
  o.Set("cudaHeaders", false);
#endif
  return o;
}

Napi::Value LoadTensorRT(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  redraft::LoadResult r = redraft::loadTensorRT(path);
  auto o = Napi::Object::New(env);
  o.Set("ok", r.ok);
  if (!r.library.empty()) o.Set("library", r.library);
  if (!r.version.empty()) o.Set("version", r.version);
  if (!r.error.empty()) o.Set("error", r.error);
  auto tried = Napi::Array::New(env, r.tried.size());
  for (size_t i = 0; i < r.tried.size(); i++) tried.Set(i, r.tried[i]);
  o.Set("tried", tried);
  return o;
}

Napi::Value DescribePlan(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "describePlan(plan): plan must be an object");
  return redraft::describePlan(env, redraft::decodePlan(info[0].As<Napi::Object>()));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("info", Napi::Function::New(env, Info));
  exports.Set("loadTensorRT", Napi::Function::New(env, LoadTensorRT));
  exports.Set("describePlan", Napi::Function::New(env, DescribePlan));
  exports.Set("buildEngine", Napi::Function::New(env, redraft::buildEngine));
  redraft::registerRuntime(env, exports);  // loadRuntime, deserializeEngine
  return exports;
}

}  // namespace

NODE_API_MODULE(redraft_native, Init)
