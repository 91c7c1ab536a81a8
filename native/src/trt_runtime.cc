// redraft's native TensorRT runtime. libnvinfer (createInferRuntime_INTERNAL) and the CUDA runtime
// (cudaMalloc, cudaMemcpyAsync, streams) are dlopen'ed, as the builder's library is: no link-time
// dependency. JavaScript gets:
//   loadRuntime(tensorrtLib?, cudaLib?) -> { ok, tensorrt, cuda, error }
//   deserializeEngine(bytes, onLog?) -> Promise<engine>       (worker thread)
//   engine.io: [{ name, mode, dtype, shape, profile? }]; engine.createContext(); engine.release()
//   context.run(inputs, outputShapes?, { keepOnDevice? }) -> Promise<{ outputs, stats }>   (worker thread)
//     an output in keepOnDevice stays in the context's device buffer ({ device: true }, no copy);
//     an input { device: 'output' } is copied from it on the device (state stays device-resident)
//   engine.createContext({ aliases? }): aliases maps an output to the input it updates in place
//     (IKVCacheUpdateLayer: NvInfer.h requires the output to share the cache's device memory): the
//     output is bound to the input's buffer, and feeding it back ({ device: output }) copies nothing
//   context.readKept(name): a kept output's bytes, copied to the host now (synchronously)
//   context.setCommunicator(comm): IExecutionContext::setCommunicator (TensorRT 10.16+), for engines with
//     IDistCollectiveLayer; comm from ncclInitRank (the context keeps it alive)
//   ncclUniqueId(ncclLib?) -> Uint8Array(128)   (rank 0; the launcher shares it with the other ranks)
//   ncclInitRank(id, nranks, rank, ncclLib?) -> Promise<{ rank, size, library, double, release() }>   (worker thread:
//     ncclCommInitRank waits for every rank)
//   context.cancel(); context.stats(); context.release()
// Errors carry `code`: ENGINE (TensorRT refused the engine: another version, another GPU, a
// corrupt file), PROFILE (a shape outside the optimization profile, naming the dim), TENSORRT
// (a call TensorRT refused, with its log), CUDA, INTERRUPTED, USAGE.
#include "trt_runtime.hh"

#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "trt_build.hh"

#ifdef REDRAFT_HAVE_TRT_HEADERS
#include <NvInfer.h>

#include "cuda_dl.hh"
#include "nccl_dl.hh"
#endif

namespace redraft {

namespace {
Napi::Error codedError(Napi::Env env, const std::string& code, const std::string& msg) {
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, code));
  return e;
}
}  // namespace

#ifndef REDRAFT_HAVE_TRT_HEADERS

namespace {
const char* kNoHeaders = "the native addon was built without TensorRT headers; rebuild with TENSORRT_INCLUDE_DIR=/path/to/TensorRT/include npm run build:native";
Napi::Value LoadRuntime(const Napi::CallbackInfo& info) {
  auto o = Napi::Object::New(info.Env());
  o.Set("ok", false);
  o.Set("error", kNoHeaders);
  return o;
}
Napi::Value DeserializeEngine(const Napi::CallbackInfo& info) {
  auto d = Napi::Promise::Deferred::New(info.Env());
  d.Reject(codedError(info.Env(), "ENGINE", kNoHeaders).Value());
  return d.Promise();
}
}  // namespace

void registerRuntime(Napi::Env env, Napi::Object exports) {
  exports.Set("runtimeCompiled", Napi::Boolean::New(env, false));
  exports.Set("loadRuntime", Napi::Function::New(env, LoadRuntime));
  exports.Set("deserializeEngine", Napi::Function::New(env, DeserializeEngine));
}

#else

using namespace nvinfer1;

namespace {

struct RtLibs {
  void* createRuntime = nullptr;  // createInferRuntime_INTERNAL
  std::string trtLibrary, trtVersion, error;
  bool trtDouble = false;
};
std::mutex gRtMutex;
RtLibs gRt;

/** libnvinfer through the builder's loader (one library per process), then its runtime entry point. */
RtLibs loadRt(const std::string& trtPath, std::string* why) {
  std::lock_guard<std::mutex> l(gRtMutex);
  if (gRt.createRuntime) return gRt;
  LoadResult r = loadTensorRT(trtPath);
  if (!r.ok) {
    std::string tried;
    for (const auto& n : r.tried) tried += (tried.empty() ? "" : ", ") + n;
    *why = "TensorRT library not usable (tried " + tried + ": " + r.error + "); set TENSORRT_LIB or LD_LIBRARY_PATH";
    return gRt;
  }
  void* h = dlopen(r.library.c_str(), RTLD_NOW | RTLD_NOLOAD);
  void* fn = h ? dlsym(h, "createInferRuntime_INTERNAL") : nullptr;
  if (!fn) {
    *why = r.library + ": no createInferRuntime_INTERNAL (not a TensorRT runtime library)";
    return gRt;
  }
  gRt.createRuntime = fn;
  gRt.trtLibrary = r.library;
  gRt.trtVersion = r.version;
  gRt.trtDouble = dlsym(h, "redraft_trt_double_runtime") != nullptr;
  return gRt;
}

class RtLogger : public ILogger {
 public:
  void log(Severity s, AsciiChar const* msg) noexcept override {
    std::lock_guard<std::mutex> l(m_);
    std::string text = msg ? msg : "";
    if (s == Severity::kINTERNAL_ERROR || s == Severity::kERROR) errors_.push_back(text);
    if (s <= Severity::kWARNING) log_.push_back({s == Severity::kWARNING ? "warning" : "error", text});
  }
  std::string takeErrors() {
    std::lock_guard<std::mutex> l(m_);
    std::string why;
    for (const auto& e : errors_) why += (why.empty() ? "" : "; ") + e;
    errors_.clear();
    return why;
  }
  std::vector<std::pair<std::string, std::string>> takeLog() {
    std::lock_guard<std::mutex> l(m_);
    std::vector<std::pair<std::string, std::string>> o;
    o.swap(log_);
    return o;
  }

 private:
  std::mutex m_;
  std::vector<std::string> errors_;
  std::vector<std::pair<std::string, std::string>> log_;
};

size_t elemSize(DataType t) {
  switch (static_cast<int>(t)) {
    case 0: case 3: return 4;  // kFLOAT, kINT32
    case 1: case 7: return 2;  // kHALF, kBF16
    case 8: return 8;          // kINT64
    default: return 1;         // kINT8, kBOOL, kUINT8, kFP8
  }
}
const char* dtypeName(DataType t) {
  switch (static_cast<int>(t)) {
    case 0: return "float32";
    case 1: return "float16";
    case 2: return "int8";
    case 3: return "int32";
    case 4: return "bool";
    case 5: return "uint8";
    case 6: return "fp8";
    case 7: return "bfloat16";
    case 8: return "int64";
    default: return "unknown";
  }
}
int64_t volume(const Dims& d) {
  int64_t v = 1;
  for (int i = 0; i < d.nbDims; i++) {
    if (d.d[i] < 0) return -1;
    v *= d.d[i];
  }
  return v;
}
std::string dimsStr(const Dims& d) {
  std::string s = "[";
  for (int i = 0; i < d.nbDims; i++) s += (i ? ", " : "") + std::to_string(d.d[i]);
  return s + "]";
}
Napi::Array dimsJs(Napi::Env env, const Dims& d) {
  auto a = Napi::Array::New(env, d.nbDims < 0 ? 0 : d.nbDims);
  for (int i = 0; i < d.nbDims; i++) a.Set(i, Napi::Number::New(env, static_cast<double>(d.d[i])));
  return a;
}

struct IoInfo {
  std::string name;
  bool input = false;
  DataType dtype{};
  Dims shape{};
  bool hasProfile = false;
  Dims min{}, opt{}, max{};
};

struct EngineHold {
  RtLogger logger;  // outlives the runtime and engine that log to it
  std::unique_ptr<IRuntime> runtime;
  std::unique_ptr<ICudaEngine> engine;
  std::vector<IoInfo> io;
  bool trtDouble = false;
  ~EngineHold() {
    engine.reset();  // NvInfer.h: the engine before the runtime that created it
    runtime.reset();
  }
};

struct Stats {
  double runs = 0, enqueues = 0, setInputShape = 0, setTensorAddress = 0, h2dCopies = 0, d2hCopies = 0, h2dBytes = 0, d2hBytes = 0, d2dCopies = 0, d2dBytes = 0;
  double deviceBytes = 0, allocations = 0, shapesFromCaller = 0;
  double inPlace = 0;  // aliased outputs bound to their input's buffer, and inputs fed back in place (no copy)
  Napi::Object js(Napi::Env env) const {
    auto o = Napi::Object::New(env);
    o.Set("runs", runs);
    o.Set("enqueues", enqueues);
    o.Set("setInputShape", setInputShape);
    o.Set("setTensorAddress", setTensorAddress);
    o.Set("h2dCopies", h2dCopies);
    o.Set("d2hCopies", d2hCopies);
    o.Set("h2dBytes", h2dBytes);
    o.Set("d2hBytes", d2hBytes);
    o.Set("d2dCopies", d2dCopies);
    o.Set("d2dBytes", d2dBytes);
    o.Set("deviceBytes", deviceBytes);
    o.Set("allocations", allocations);
    o.Set("shapesFromCaller", shapesFromCaller);
    o.Set("inPlace", inPlace);
    return o;
  }
};

/** An NCCL communicator (ncclCommInitRank); destroyed when the last context using it is. */
struct CommHold {
  const NcclApi* api = nullptr;
  NcclComm comm = nullptr;
  int rank = 0, size = 0;
  ~CommHold() {
    if (comm && api) api->commDestroy(comm);
  }
};

struct DevBuf {
  void* p = nullptr;
  size_t cap = 0;
};

struct ContextHold {
  std::shared_ptr<EngineHold> eng;
  const CudaApi* cuda = nullptr;
  std::unique_ptr<IExecutionContext> ctx;
  cudaStream_t stream = nullptr;
  std::map<std::string, DevBuf> bufs;
  std::map<std::string, std::pair<Dims, DataType>> kept;  // outputs of the last run left on the device
  std::map<std::string, std::string> aliasOf;               // in-place output -> the input whose buffer it is
  /** The device buffer an output lives in: its own, or its input's when it is in place. */
  const std::string& home(const std::string& output) const {
    auto a = aliasOf.find(output);
    return a == aliasOf.end() ? output : a->second;
  }
  std::atomic<bool> busy{false}, cancel{false};
  std::mutex statsMutex;
  Stats stats;
  // NvInfer.h: "The lifetime of the communicator must be longer than the execution contexts it is attached to."
  std::shared_ptr<CommHold> comm;
  void free() {
    ctx.reset();
    comm.reset();
    for (auto& [n, b] : bufs)
      if (b.p) cuda->free_(b.p);
    bufs.clear();
    if (stream) cuda->streamDestroy(stream);
    stream = nullptr;
  }
  ~ContextHold() {
    if (cuda) free();
  }
  /** The tensor's device buffer, holding at least `bytes` (allocated once, grown on demand). */
  std::string ensure(const std::string& name, size_t bytes, void** out) {
    DevBuf& b = bufs[name];
    size_t want = bytes < 256 ? 256 : bytes;  // never a null address, even for an empty tensor
    if (b.cap < want) {
      if (b.p) cuda->free_(b.p);
      b.p = nullptr;
      b.cap = 0;
      cudaError_t e = cuda->malloc_(&b.p, want);
      if (e != cudaSuccess || !b.p) {
        b.p = nullptr;
        return "cudaMalloc of " + std::to_string(want) + " bytes for '" + name + "' failed: " + cuda->why(e);
      }
      b.cap = want;
      std::lock_guard<std::mutex> l(statsMutex);
      stats.allocations++;
      stats.deviceBytes = 0;
      for (auto& [n, x] : bufs) stats.deviceBytes += static_cast<double>(x.cap);
    }
    *out = b.p;
    return "";
  }
};

/** One input of a run: its host bytes (kept alive by a reference to the JS object) and shape. */
struct RunInput {
  const IoInfo* io = nullptr;
  Dims dims{};
  const uint8_t* data = nullptr;
  size_t bytes = 0;
  std::string fromOutput;  // device-resident: copied on the device from this output of the last run
};
struct RunOutput {
  const IoInfo* io = nullptr;
  Dims given{};
  bool hasGiven = false;
  Dims dims{};
  bool keep = false;  // left on the device (no copy to the host)
  void* dev = nullptr;
  std::unique_ptr<std::vector<uint8_t>> host;
};

class DeserializeWorker : public Napi::AsyncWorker {
 public:
  DeserializeWorker(Napi::Env env, std::vector<uint8_t> bytes, RtLibs libs, Napi::Function onLog)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), bytes_(std::move(bytes)), libs_(std::move(libs)) {
    if (!onLog.IsEmpty()) onLog_ = Napi::Persistent(onLog);
  }
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    hold_ = std::make_shared<EngineHold>();
    hold_->trtDouble = libs_.trtDouble;
    auto create = reinterpret_cast<void* (*)(void*, int32_t)>(libs_.createRuntime);
    hold_->runtime.reset(static_cast<IRuntime*>(create(&hold_->logger, NV_TENSORRT_VERSION)));
    if (!hold_->runtime) return fail("TENSORRT", "createInferRuntime failed (TensorRT library and headers may not match): " + hold_->logger.takeErrors());
    hold_->engine.reset(hold_->runtime->deserializeCudaEngine(bytes_.data(), bytes_.size()));
    std::vector<uint8_t>().swap(bytes_);
    if (!hold_->engine) {
      std::string why = hold_->logger.takeErrors();
      return fail("ENGINE", "TensorRT " + libs_.trtVersion + " cannot deserialize the engine" + (why.empty() ? std::string(" (no reason logged)") : ": " + why));
    }
    ICudaEngine& e = *hold_->engine;
    int32_t n = e.getNbIOTensors();
    for (int32_t i = 0; i < n; i++) {
      IoInfo io;
      const char* name = e.getIOTensorName(i);
      io.name = name ? name : "";
      io.input = e.getTensorIOMode(name) == TensorIOMode::kINPUT;
      io.dtype = e.getTensorDataType(name);
      io.shape = e.getTensorShape(name);
      if (io.input && e.getNbOptimizationProfiles() > 0) {
        io.min = e.getProfileShape(name, 0, OptProfileSelector::kMIN);
        io.opt = e.getProfileShape(name, 0, OptProfileSelector::kOPT);
        io.max = e.getProfileShape(name, 0, OptProfileSelector::kMAX);
        io.hasProfile = io.max.nbDims == io.shape.nbDims && io.max.nbDims >= 0;
      }
      hold_->io.push_back(io);
    }
  }
  void OnOK() override;
  void OnError(const Napi::Error& e) override {
    deliverLog();
    deferred_.Reject(code_.empty() ? e.Value() : codedError(Env(), code_, e.Message()).Value());
  }

 private:
  void fail(const std::string& code, const std::string& msg) {
    code_ = code;
    SetError(msg);
  }
  void deliverLog() {
    if (!hold_ || onLog_.IsEmpty()) return;
    for (auto& [s, m] : hold_->logger.takeLog()) {
      try {
        onLog_.Call({Napi::String::New(Env(), s), Napi::String::New(Env(), m)});
      } catch (...) {
      }
    }
  }
  Napi::Promise::Deferred deferred_;
  std::vector<uint8_t> bytes_;
  RtLibs libs_;
  Napi::FunctionReference onLog_;
  std::shared_ptr<EngineHold> hold_;
  std::string code_;
};

class RunWorker : public Napi::AsyncWorker {
 public:
  RunWorker(Napi::Env env, std::shared_ptr<ContextHold> c, std::vector<RunInput> in, std::vector<RunOutput> out, Napi::Object keep)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), c_(std::move(c)), in_(std::move(in)), out_(std::move(out)) {
    keep_ = Napi::Persistent(keep);
  }
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    IExecutionContext& ctx = *c_->ctx;
    RtLogger& log = c_->eng->logger;
    const CudaApi& cu = *c_->cuda;
    log.takeErrors();
    auto count = [&](double Stats::*f, double by = 1) {
      std::lock_guard<std::mutex> l(c_->statsMutex);
      c_->stats.*f += by;
      run_.*f += by;
    };
    count(&Stats::runs);
    for (RunInput& x : in_) {
      const std::string& name = x.io->name;
      count(&Stats::setInputShape);
      if (!ctx.setInputShape(name.c_str(), x.dims)) return fail("PROFILE", "input '" + name + "' " + dimsStr(x.dims) + ": TensorRT rejected the shape: " + log.takeErrors());
      void* dev = nullptr;
      bool inPlace = !x.fromOutput.empty() && c_->home(x.fromOutput) == name;
      if (inPlace) {
        // The output of the last run updated this input's buffer in place: nothing to copy, and
        // the buffer must not be reallocated under the data it holds.
        DevBuf& b = c_->bufs[name];
        if (b.cap < x.bytes) return fail("USAGE", "input '" + name + "' fed back in place from '" + x.fromOutput + "' needs " + std::to_string(x.bytes) + " bytes, its buffer holds " + std::to_string(b.cap));
        dev = b.p;
        count(&Stats::inPlace);
      } else {
        std::string e = c_->ensure(name, x.bytes, &dev);
        if (!e.empty()) return fail("CUDA", e);
      }
      if (inPlace) {
      } else if (x.bytes > 0 && !x.fromOutput.empty()) {
        cudaError_t r = cu.memcpyAsync(dev, c_->bufs[c_->home(x.fromOutput)].p, x.bytes, cudaMemcpyDeviceToDevice, c_->stream);
        if (r != cudaSuccess) return fail("CUDA", "copying output '" + x.fromOutput + "' to input '" + name + "' on the device (" + std::to_string(x.bytes) + " bytes) failed: " + cu.why(r));
        count(&Stats::d2dCopies);
        count(&Stats::d2dBytes, static_cast<double>(x.bytes));
      } else if (x.bytes > 0) {
        cudaError_t r = cu.memcpyAsync(dev, x.data, x.bytes, cudaMemcpyHostToDevice, c_->stream);
        if (r != cudaSuccess) return fail("CUDA", "copying input '" + name + "' to the device (" + std::to_string(x.bytes) + " bytes) failed: " + cu.why(r));
        count(&Stats::h2dCopies);
        count(&Stats::h2dBytes, static_cast<double>(x.bytes));
      }
      count(&Stats::setTensorAddress);
      if (!ctx.setTensorAddress(name.c_str(), dev)) return fail("TENSORRT", "setTensorAddress('" + name + "') failed: " + log.takeErrors());
    }
    for (RunOutput& o : out_) {
      const std::string& name = o.io->name;
      Dims d = ctx.getTensorShape(name.c_str());
      if (d.nbDims < 0) return fail("TENSORRT", "TensorRT cannot tell the shape of output '" + name + "' (are all input shapes set?): " + log.takeErrors());
      if (o.hasGiven && o.given.nbDims != d.nbDims)
        return fail("TENSORRT", "output '" + name + "': TensorRT's shape " + dimsStr(d) + " has rank " + std::to_string(d.nbDims) + ", the graph's " + dimsStr(o.given) + " has " + std::to_string(o.given.nbDims));
      for (int k = 0; k < d.nbDims; k++) {
        if (d.d[k] >= 0) {
          if (o.hasGiven && o.given.d[k] != d.d[k]) return fail("TENSORRT", "output '" + name + "': TensorRT's shape " + dimsStr(d) + " differs from the graph's " + dimsStr(o.given) + " at dim " + std::to_string(k));
          continue;
        }
        // TensorRT leaves a dim unresolved only for data-dependent shapes (and the double, which
        // infers no shapes at run time, for every dynamic one): the graph says what it is.
        if (!o.hasGiven) return fail("TENSORRT", "output '" + name + "' has an unresolved dim " + std::to_string(k) + " " + dimsStr(d) + " and the caller gave no shape");
        d.d[k] = o.given.d[k];
        count(&Stats::shapesFromCaller);
      }
      o.dims = d;
      size_t bytes = static_cast<size_t>(volume(d)) * elemSize(o.io->dtype);
      void* dev = nullptr;
      auto alias = c_->aliasOf.find(name);
      if (alias != c_->aliasOf.end()) {
        // In place (IKVCacheUpdateLayer): the output is the input's memory, bound to its address.
        DevBuf& b = c_->bufs[alias->second];
        if (!b.p || b.cap < bytes) return fail("USAGE", "output '" + name + "' (in place of input '" + alias->second + "') needs " + std::to_string(bytes) + " bytes, the input's buffer holds " + std::to_string(b.cap));
        dev = b.p;
        count(&Stats::inPlace);
      } else {
        std::string e = c_->ensure(name, bytes, &dev);
        if (!e.empty()) return fail("CUDA", e);
      }
      o.dev = dev;
      count(&Stats::setTensorAddress);
      if (!ctx.setTensorAddress(name.c_str(), dev)) return fail("TENSORRT", "setTensorAddress('" + name + "') failed: " + log.takeErrors());
      o.host = std::make_unique<std::vector<uint8_t>>(o.keep ? 0 : bytes);
    }
    if (c_->cancel.exchange(false)) return fail("INTERRUPTED", "the run was interrupted before enqueueV3");
    count(&Stats::enqueues);
    if (!ctx.enqueueV3(c_->stream)) return fail("TENSORRT", "enqueueV3 failed: " + log.takeErrors());
    for (RunOutput& o : out_) {
      size_t bytes = o.host->size();
      if (bytes == 0) continue;
      cudaError_t r = cu.memcpyAsync(o.host->data(), o.dev, bytes, cudaMemcpyDeviceToHost, c_->stream);
      if (r != cudaSuccess) return fail("CUDA", "copying output '" + o.io->name + "' to the host (" + std::to_string(bytes) + " bytes) failed: " + cu.why(r));
      count(&Stats::d2hCopies);
      count(&Stats::d2hBytes, static_cast<double>(bytes));
    }
    cudaError_t r = cu.streamSynchronize(c_->stream);
    if (r != cudaSuccess) return fail("CUDA", "cudaStreamSynchronize failed (the engine's kernels or copies failed): " + cu.why(r));
    c_->kept.clear();
    for (RunOutput& o : out_)
      if (o.keep) c_->kept[o.io->name] = {o.dims, o.io->dtype};
    if (c_->cancel.exchange(false)) return fail("INTERRUPTED", "the run was interrupted");
  }
  void OnOK() override {
    c_->busy = false;
    Napi::Env env = Env();
    auto outs = Napi::Object::New(env);
    for (RunOutput& o : out_) {
      auto t = Napi::Object::New(env);
      t.Set("dtype", dtypeName(o.io->dtype));
      t.Set("shape", dimsJs(env, o.dims));
      if (o.keep) {
        t.Set("device", true);  // stays in this context's device buffer until the next run
        outs.Set(o.io->name, t);
        continue;
      }
      std::vector<uint8_t>* v = o.host.release();
      Napi::ArrayBuffer ab = v->empty() ? Napi::ArrayBuffer::New(env, 0)
                                        : Napi::ArrayBuffer::New(env, v->data(), v->size(), [](Napi::Env, void*, std::vector<uint8_t>* p) { delete p; }, v);
      if (v->empty()) delete v;
      t.Set("data", ab);
      outs.Set(o.io->name, t);
    }
    auto res = Napi::Object::New(env);
    res.Set("outputs", outs);
    res.Set("stats", run_.js(env));
    deferred_.Resolve(res);
  }
  void OnError(const Napi::Error& e) override {
    c_->busy = false;
    deferred_.Reject(code_.empty() ? e.Value() : codedError(Env(), code_, e.Message()).Value());
  }

 private:
  void fail(const std::string& code, const std::string& msg) {
    code_ = code;
    SetError(msg);
  }
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<ContextHold> c_;
  std::vector<RunInput> in_;
  std::vector<RunOutput> out_;
  Napi::ObjectReference keep_;
  Stats run_;
  std::string code_;
};

std::vector<int64_t> shapeOf(Napi::Env env, Napi::Value v, const std::string& what) {
  if (!v.IsArray()) throw codedError(env, "USAGE", what + ": shape must be an array of dims");
  auto a = v.As<Napi::Array>();
  if (a.Length() > static_cast<uint32_t>(Dims::MAX_DIMS)) throw codedError(env, "USAGE", what + ": rank " + std::to_string(a.Length()) + " is over 8");
  std::vector<int64_t> out;
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value d = a.Get(i);
    if (!d.IsNumber()) throw codedError(env, "USAGE", what + ": dim " + std::to_string(i) + " is not a number");
    out.push_back(d.As<Napi::Number>().Int64Value());
  }
  return out;
}
Dims toDims(const std::vector<int64_t>& v) {
  Dims d{};
  d.nbDims = static_cast<int32_t>(v.size());
  for (size_t i = 0; i < v.size(); i++) d.d[i] = v[i];
  return d;
}

Napi::Value contextObject(Napi::Env env, std::shared_ptr<ContextHold> c) {
  auto o = Napi::Object::New(env);
  o.Set("run", Napi::Function::New(env, [c](const Napi::CallbackInfo& info) -> Napi::Value {
    Napi::Env env = info.Env();
    auto d = Napi::Promise::Deferred::New(env);
    auto reject = [&](const Napi::Error& e) {
      d.Reject(e.Value());
      return d.Promise();
    };
    if (!c->ctx) return reject(codedError(env, "USAGE", "the execution context was released"));
    if (info.Length() < 1 || !info[0].IsObject()) return reject(codedError(env, "USAGE", "run(inputs, outputShapes?)"));
    Napi::Object inputs = info[0].As<Napi::Object>();
    Napi::Object shapes = info.Length() > 1 && info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env);
    std::vector<std::string> keep;
    if (info.Length() > 2 && info[2].IsObject() && info[2].As<Napi::Object>().Get("keepOnDevice").IsArray()) {
      auto a = info[2].As<Napi::Object>().Get("keepOnDevice").As<Napi::Array>();
      for (uint32_t i = 0; i < a.Length(); i++)
        if (a.Get(i).IsString()) keep.push_back(a.Get(i).As<Napi::String>().Utf8Value());
    }
    std::vector<RunInput> in;
    std::vector<RunOutput> out;
    try {
      for (const IoInfo& io : c->eng->io) {
        if (!io.input) {
          RunOutput ro;
          ro.io = &io;
          ro.keep = std::find(keep.begin(), keep.end(), io.name) != keep.end();
          Napi::Value s = shapes.Get(io.name);
          if (!s.IsUndefined() && !s.IsNull()) {
            ro.given = toDims(shapeOf(env, s, "output '" + io.name + "'"));
            ro.hasGiven = true;
          }
          out.push_back(std::move(ro));
          continue;
        }
        Napi::Value v = inputs.Get(io.name);
        if (!v.IsObject()) throw codedError(env, "USAGE", "input '" + io.name + "' is missing (the engine's inputs are all required)");
        Napi::Object t = v.As<Napi::Object>();
        if (t.Get("device").IsString()) {
          // Device-resident: the named output of the last run (keepOnDevice), copied on the device.
          RunInput ri;
          ri.io = &io;
          ri.fromOutput = t.Get("device").As<Napi::String>().Utf8Value();
          auto k = c->kept.find(ri.fromOutput);
          if (k == c->kept.end()) throw codedError(env, "USAGE", "input '" + io.name + "': output '" + ri.fromOutput + "' was not kept on the device by the last run (run(..., { keepOnDevice: ['" + ri.fromOutput + "'] }))");
          if (k->second.second != io.dtype) throw codedError(env, "USAGE", "input '" + io.name + "' is " + dtypeName(io.dtype) + ", output '" + ri.fromOutput + "' is " + dtypeName(k->second.second));
          ri.dims = k->second.first;
          ri.bytes = static_cast<size_t>(volume(ri.dims)) * elemSize(io.dtype);
          for (int q = 0; q < ri.dims.nbDims && q < io.shape.nbDims; q++) {
            int64_t lo = io.shape.d[q] >= 0 ? io.shape.d[q] : io.hasProfile ? io.min.d[q] : 0, hi = io.shape.d[q] >= 0 ? io.shape.d[q] : io.hasProfile ? io.max.d[q] : INT64_MAX;
            if (ri.dims.nbDims != io.shape.nbDims || ri.dims.d[q] < lo || ri.dims.d[q] > hi)
              throw codedError(env, "PROFILE", "input '" + io.name + "' " + dimsStr(ri.dims) + " (from output '" + ri.fromOutput + "'): dim " + std::to_string(q) + " is outside the engine's optimization profile [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
          }
          in.push_back(ri);
          continue;
        }
        std::string dt = t.Get("dtype").IsString() ? t.Get("dtype").As<Napi::String>().Utf8Value() : "";
        if (dt != dtypeName(io.dtype)) throw codedError(env, "USAGE", "input '" + io.name + "' is " + dt + ", the engine's is " + dtypeName(io.dtype));
        std::vector<int64_t> shape = shapeOf(env, t.Get("shape"), "input '" + io.name + "'");
        RunInput ri;
        ri.io = &io;
        ri.dims = toDims(shape);
        if (ri.dims.nbDims != io.shape.nbDims)
          throw codedError(env, "PROFILE", "input '" + io.name + "' " + dimsStr(ri.dims) + " has rank " + std::to_string(ri.dims.nbDims) + ", the engine's is " + std::to_string(io.shape.nbDims) + " " + dimsStr(io.shape));
        for (int k = 0; k < ri.dims.nbDims; k++) {
          int64_t x = ri.dims.d[k];
          int64_t lo = io.shape.d[k] >= 0 ? io.shape.d[k] : io.hasProfile ? io.min.d[k] : 0;
          int64_t hi = io.shape.d[k] >= 0 ? io.shape.d[k] : io.hasProfile ? io.max.d[k] : INT64_MAX;
          if (x < lo || x > hi)
            throw codedError(env, "PROFILE", "input '" + io.name + "' " + dimsStr(ri.dims) + ": dim " + std::to_string(k) + " = " + std::to_string(x) + " is outside the engine's optimization profile [" +
                                                 std::to_string(lo) + ", " + std::to_string(hi) + "]");
        }
        Napi::Value data = t.Get("data");
        size_t want = static_cast<size_t>(volume(ri.dims)) * elemSize(io.dtype);
        if (data.IsTypedArray()) {
          auto ta = data.As<Napi::TypedArray>();
          ri.data = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
          ri.bytes = ta.ByteLength();
        } else if (data.IsArrayBuffer()) {
          auto ab = data.As<Napi::ArrayBuffer>();
          ri.data = static_cast<const uint8_t*>(ab.Data());
          ri.bytes = ab.ByteLength();
        } else {
          throw codedError(env, "USAGE", "input '" + io.name + "': data must be a typed array");
        }
        if (ri.bytes != want) throw codedError(env, "USAGE", "input '" + io.name + "' " + dimsStr(ri.dims) + " needs " + std::to_string(want) + " bytes, its data has " + std::to_string(ri.bytes));
        in.push_back(ri);
      }
    } catch (const Napi::Error& e) {
      return reject(e);
    }
    if (c->busy.exchange(true)) return reject(codedError(env, "USAGE", "a run of this execution context is in progress (one at a time per context)"));
    c->cancel = false;  // a cancel() that came after the last run's final check does not carry over
    auto* w = new RunWorker(env, c, std::move(in), std::move(out), inputs);
    Napi::Promise p = w->Promise();
    w->Queue();
    return p;
  }));
  o.Set("setCommunicator", Napi::Function::New(env, [c](const Napi::CallbackInfo& info) -> Napi::Value {
    Napi::Env env = info.Env();
    if (!c->ctx) throw codedError(env, "USAGE", "the execution context was released");
    if (c->busy) throw codedError(env, "USAGE", "setCommunicator during a run");
    Napi::Value h = info.Length() > 0 && info[0].IsObject() ? info[0].As<Napi::Object>().Get("_comm") : env.Undefined();
    if (!h.IsExternal()) throw codedError(env, "USAGE", "setCommunicator(comm): comm must come from ncclInitRank");
    auto* hold = h.As<Napi::External<std::shared_ptr<CommHold>>>().Data();
    if (!*hold || !(*hold)->comm) throw codedError(env, "USAGE", "setCommunicator: the communicator was released");
#if NV_TENSORRT_MAJOR > 10 || (NV_TENSORRT_MAJOR == 10 && NV_TENSORRT_MINOR >= 16)
    c->eng->logger.takeErrors();
    if (!c->ctx->setCommunicator((*hold)->comm)) throw codedError(env, "TENSORRT", "IExecutionContext::setCommunicator failed: " + c->eng->logger.takeErrors());
    c->comm = *hold;
    return env.Undefined();
#else
    throw codedError(env, "USAGE", "IExecutionContext::setCommunicator needs TensorRT 10.16 or newer; this runtime was compiled against TensorRT " + headersVersion() + " headers (tensor-parallel engines need 10.16+)");
#endif
  }));
  o.Set("readKept", Napi::Function::New(env, [c](const Napi::CallbackInfo& info) -> Napi::Value {
    // A kept output's bytes on the host, now: for a caller that reads state it was told stays on the device.
    Napi::Env env = info.Env();
    if (!c->ctx) throw codedError(env, "USAGE", "the execution context was released");
    if (info.Length() < 1 || !info[0].IsString()) throw codedError(env, "USAGE", "readKept(outputName)");
    std::string name = info[0].As<Napi::String>().Utf8Value();
    auto k = c->kept.find(name);
    if (k == c->kept.end()) throw codedError(env, "USAGE", "output '" + name + "' was not kept on the device by the last run");
    if (c->busy) throw codedError(env, "USAGE", "readKept('" + name + "') during a run: the buffer is being written");
    size_t bytes = static_cast<size_t>(volume(k->second.first)) * elemSize(k->second.second);
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, bytes);
    if (bytes > 0) {
      cudaError_t r = c->cuda->memcpyAsync(ab.Data(), c->bufs[c->home(name)].p, bytes, cudaMemcpyDeviceToHost, c->stream);
      if (r == cudaSuccess) r = c->cuda->streamSynchronize(c->stream);
      if (r != cudaSuccess) throw codedError(env, "CUDA", "copying kept output '" + name + "' to the host failed: " + c->cuda->why(r));
      std::lock_guard<std::mutex> l(c->statsMutex);
      c->stats.d2hCopies++;
      c->stats.d2hBytes += static_cast<double>(bytes);
    }
    return ab;
  }));
  o.Set("cancel", Napi::Function::New(env, [c](const Napi::CallbackInfo& info) -> Napi::Value {
    if (c->busy) c->cancel = true;
    return info.Env().Undefined();
  }));
  o.Set("stats", Napi::Function::New(env, [c](const Napi::CallbackInfo& info) -> Napi::Value {
    std::lock_guard<std::mutex> l(c->statsMutex);
    return c->stats.js(info.Env());
  }));
  o.Set("release", Napi::Function::New(env, [c](const Napi::CallbackInfo& info) -> Napi::Value {
    if (c->busy) throw codedError(info.Env(), "USAGE", "release() during a run: wait for it (or cancel() it) first");
    if (c->ctx) c->free();
    return info.Env().Undefined();
  }));
  return o;
}

void DeserializeWorker::OnOK() {
  deliverLog();
  Napi::Env env = Env();
  auto hold = hold_;
  auto o = Napi::Object::New(env);
  auto io = Napi::Array::New(env, hold->io.size());
  for (size_t i = 0; i < hold->io.size(); i++) {
    const IoInfo& x = hold->io[i];
    auto t = Napi::Object::New(env);
    t.Set("name", x.name);
    t.Set("mode", x.input ? "input" : "output");
    t.Set("dtype", dtypeName(x.dtype));
    t.Set("shape", dimsJs(env, x.shape));
    if (x.hasProfile) {
      auto p = Napi::Object::New(env);
      p.Set("min", dimsJs(env, x.min));
      p.Set("opt", dimsJs(env, x.opt));
      p.Set("max", dimsJs(env, x.max));
      t.Set("profile", p);
    }
    io.Set(i, t);
  }
  o.Set("io", io);
  o.Set("tensorrtDouble", hold->trtDouble);
  o.Set("createContext", Napi::Function::New(env, [hold](const Napi::CallbackInfo& info) -> Napi::Value {
    Napi::Env env = info.Env();
    if (!hold->engine) throw codedError(env, "USAGE", "the engine was released");
    const CudaApi& cu = loadCuda();
    if (!cu.handle) throw codedError(env, "CUDA", "the CUDA runtime is not usable (" + cu.error + "); set CUDA_LIB or LD_LIBRARY_PATH");
    auto c = std::make_shared<ContextHold>();
    c->eng = hold;
    c->cuda = &cu;
    cudaError_t e = cu.streamCreate(&c->stream);
    if (e != cudaSuccess) throw codedError(env, "CUDA", "cudaStreamCreate failed: " + cu.why(e));
    // In-place outputs: { aliases: { output: input } }, same dtype and rank (the shapes are the same at run time).
    if (info.Length() > 0 && info[0].IsObject() && info[0].As<Napi::Object>().Get("aliases").IsObject()) {
      Napi::Object a = info[0].As<Napi::Object>().Get("aliases").As<Napi::Object>();
      Napi::Array keys = a.GetPropertyNames();
      for (uint32_t i = 0; i < keys.Length(); i++) {
        std::string out = keys.Get(i).As<Napi::String>().Utf8Value();
        Napi::Value v = a.Get(out);
        if (!v.IsString()) throw codedError(env, "USAGE", "aliases['" + out + "'] must name an input");
        std::string in = v.As<Napi::String>().Utf8Value();
        const IoInfo *o = nullptr, *x = nullptr;
        for (const IoInfo& io : hold->io) {
          if (io.name == out && !io.input) o = &io;
          if (io.name == in && io.input) x = &io;
        }
        if (!o) throw codedError(env, "USAGE", "aliases: '" + out + "' is not an output of the engine");
        if (!x) throw codedError(env, "USAGE", "aliases: '" + in + "' (in place of '" + out + "') is not an input of the engine");
        if (o->dtype != x->dtype || o->shape.nbDims != x->shape.nbDims)
          throw codedError(env, "USAGE", "aliases: output '" + out + "' " + dtypeName(o->dtype) + dimsStr(o->shape) + " cannot live in input '" + in + "' " + dtypeName(x->dtype) + dimsStr(x->shape));
        c->aliasOf[out] = in;
      }
    }
    c->ctx.reset(hold->engine->createExecutionContext());
    if (!c->ctx) throw codedError(env, "TENSORRT", "createExecutionContext failed: " + hold->logger.takeErrors());
    // Inputs: device buffers at the profile's maximum, allocated once.
    for (const IoInfo& x : hold->io) {
      if (!x.input) continue;
      int64_t v = volume(x.hasProfile ? x.max : x.shape);
      if (v < 0) continue;  // grown on demand
      void* p = nullptr;
      std::string why = c->ensure(x.name, static_cast<size_t>(v) * elemSize(x.dtype), &p);
      if (!why.empty()) throw codedError(env, "CUDA", why);
    }
    return contextObject(env, c);
  }));
  o.Set("release", Napi::Function::New(env, [hold](const Napi::CallbackInfo& info) -> Napi::Value {
    // Contexts keep the engine alive; it goes when the last of them does.
    return info.Env().Undefined();
  }));
  deferred_.Resolve(o);
}

Napi::Object libsObject(Napi::Env env, const RtLibs& r, const CudaApi& cu) {
  auto o = Napi::Object::New(env);
  auto t = Napi::Object::New(env);
  t.Set("ok", r.createRuntime != nullptr);
  if (!r.trtLibrary.empty()) t.Set("library", r.trtLibrary);
  if (!r.trtVersion.empty()) t.Set("version", r.trtVersion);
  t.Set("double", r.trtDouble);
  o.Set("tensorrt", t);
  auto c = Napi::Object::New(env);
  c.Set("ok", cu.handle != nullptr);
  if (!cu.library.empty()) c.Set("library", cu.library);
  if (cu.version) c.Set("version", std::to_string(cu.version / 1000) + "." + std::to_string((cu.version % 1000) / 10));
  c.Set("double", cu.isDouble);
  auto tried = Napi::Array::New(env, cu.tried.size());
  for (size_t i = 0; i < cu.tried.size(); i++) tried.Set(i, cu.tried[i]);
  c.Set("tried", tried);
  if (cu.handle) {
    int n = 0;
    cudaError_t e = cu.getDeviceCount(&n);
    c.Set("devices", e == cudaSuccess ? n : 0);
    if (e != cudaSuccess) c.Set("error", "cudaGetDeviceCount: " + cu.why(e));
  } else if (!cu.error.empty()) {
    c.Set("error", cu.error);
  }
  o.Set("cuda", c);
  return o;
}

Napi::Value LoadRuntime(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string trtPath = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  std::string cudaPath = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
  std::string why;
  RtLibs r = loadRt(trtPath, &why);
  const CudaApi& cu = loadCuda(cudaPath);
  Napi::Object o = libsObject(env, r, cu);
  bool ok = r.createRuntime && cu.handle;
  if (ok) {
    int n = 0;
    ok = cu.getDeviceCount(&n) == cudaSuccess && n > 0;
    if (!ok) why = "the CUDA runtime " + cu.library + " sees no device";
  } else if (why.empty()) {
    why = "the CUDA runtime is not usable (" + cu.error + "); set CUDA_LIB or LD_LIBRARY_PATH";
  }
  o.Set("ok", ok);
  if (!ok) o.Set("error", why);
  return o;
}

Napi::Value DeserializeEngine(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto d = Napi::Promise::Deferred::New(env);
  std::string why;
  RtLibs r = loadRt("", &why);
  if (!r.createRuntime) {
    d.Reject(codedError(env, "TENSORRT", why).Value());
    return d.Promise();
  }
  std::vector<uint8_t> bytes;
  if (info.Length() > 0 && info[0].IsTypedArray()) {
    auto ta = info[0].As<Napi::TypedArray>();
    auto* p = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    bytes.assign(p, p + ta.ByteLength());
  } else if (info.Length() > 0 && info[0].IsArrayBuffer()) {
    auto ab = info[0].As<Napi::ArrayBuffer>();
    auto* p = static_cast<const uint8_t*>(ab.Data());
    bytes.assign(p, p + ab.ByteLength());
  } else {
    d.Reject(codedError(env, "USAGE", "deserializeEngine(bytes: Uint8Array | ArrayBuffer, onLog?)").Value());
    return d.Promise();
  }
  Napi::Function onLog = info.Length() > 1 && info[1].IsFunction() ? info[1].As<Napi::Function>() : Napi::Function();
  auto* w = new DeserializeWorker(env, std::move(bytes), r, onLog);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

Napi::Value NcclUniqueIdJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string lib = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  const NcclApi& nc = loadNccl(lib);
  if (!nc.handle) throw codedError(env, "NCCL", "NCCL is not usable (" + nc.error + "); set NCCL_LIB or LD_LIBRARY_PATH");
  NcclUniqueId id{};
  NcclResult r = nc.getUniqueId(&id);
  if (r != 0) throw codedError(env, "NCCL", "ncclGetUniqueId failed: " + nc.why(r));
  auto out = Napi::Uint8Array::New(env, kNcclUniqueIdBytes);
  std::memcpy(out.Data(), id.internal, kNcclUniqueIdBytes);
  return out;
}

class NcclInitWorker : public Napi::AsyncWorker {
 public:
  NcclInitWorker(Napi::Env env, const NcclApi* api, NcclUniqueId id, int n, int rank)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), api_(api), id_(id), n_(n), rank_(rank) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    hold_ = std::make_shared<CommHold>();
    hold_->api = api_;
    NcclResult r = api_->commInitRank(&hold_->comm, n_, id_, rank_);  // blocks until every rank has joined
    if (r != 0 || !hold_->comm) {
      hold_->comm = nullptr;
      return SetError("ncclCommInitRank(nranks " + std::to_string(n_) + ", rank " + std::to_string(rank_) + ") failed: " + api_->why(r));
    }
    if (api_->commCount(hold_->comm, &hold_->size) != 0 || api_->commUserRank(hold_->comm, &hold_->rank) != 0) SetError("ncclCommCount/ncclCommUserRank failed on the new communicator");
  }
  void OnOK() override {
    Napi::Env env = Env();
    auto o = Napi::Object::New(env);
    o.Set("rank", hold_->rank);
    o.Set("size", hold_->size);
    o.Set("library", api_->library);
    o.Set("double", dlsym(api_->handle, "redraft_nccl_double") != nullptr);
    auto* keep = new std::shared_ptr<CommHold>(hold_);
    o.Set("_comm", Napi::External<std::shared_ptr<CommHold>>::New(env, keep, [](Napi::Env, std::shared_ptr<CommHold>* p) { delete p; }));
    o.Set("release", Napi::Function::New(env, [keep](const Napi::CallbackInfo& info) -> Napi::Value {
      keep->reset();  // contexts that hold it keep it until they go
      return info.Env().Undefined();
    }));
    deferred_.Resolve(o);
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(codedError(Env(), "NCCL", e.Message()).Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  const NcclApi* api_;
  NcclUniqueId id_;
  int n_, rank_;
  std::shared_ptr<CommHold> hold_;
};

Napi::Value NcclInitRankJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto d = Napi::Promise::Deferred::New(env);
  auto reject = [&](const std::string& code, const std::string& m) {
    d.Reject(codedError(env, code, m).Value());
    return d.Promise();
  };
  if (info.Length() < 3 || !info[0].IsTypedArray() || !info[1].IsNumber() || !info[2].IsNumber()) return reject("USAGE", "ncclInitRank(id: Uint8Array(128), nranks, rank, ncclLib?)");
  auto ta = info[0].As<Napi::TypedArray>();
  if (ta.ByteLength() != static_cast<size_t>(kNcclUniqueIdBytes)) return reject("USAGE", "ncclInitRank: the unique id must be " + std::to_string(kNcclUniqueIdBytes) + " bytes (ncclGetUniqueId), got " + std::to_string(ta.ByteLength()));
  int n = info[1].As<Napi::Number>().Int32Value(), rank = info[2].As<Napi::Number>().Int32Value();
  if (n < 1 || rank < 0 || rank >= n) return reject("USAGE", "ncclInitRank: rank " + std::to_string(rank) + " is not in [0, " + std::to_string(n) + ")");
  std::string lib = info.Length() > 3 && info[3].IsString() ? info[3].As<Napi::String>().Utf8Value() : "";
  const NcclApi& nc = loadNccl(lib);
  if (!nc.handle) return reject("NCCL", "NCCL is not usable (" + nc.error + "); set NCCL_LIB or LD_LIBRARY_PATH");
  NcclUniqueId id{};
  std::memcpy(id.internal, static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset(), kNcclUniqueIdBytes);
  auto* w = new NcclInitWorker(env, &nc, id, n, rank);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

}  // namespace

void registerRuntime(Napi::Env env, Napi::Object exports) {
  exports.Set("ncclUniqueId", Napi::Function::New(env, NcclUniqueIdJs));
  exports.Set("ncclInitRank", Napi::Function::New(env, NcclInitRankJs));
  exports.Set("runtimeCompiled", Napi::Boolean::New(env, true));
  exports.Set("loadRuntime", Napi::Function::New(env, LoadRuntime));
  exports.Set("deserializeEngine", Napi::Function::New(env, DeserializeEngine));
}

#endif  // REDRAFT_HAVE_TRT_HEADERS

}  // namespace redraft
