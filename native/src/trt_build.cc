#include "trt_build.hh"

#include <dlfcn.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include "plan.hh"

#ifdef REDRAFT_HAVE_TRT_HEADERS
#include <NvInfer.h>
#endif

namespace redraft {

namespace {
void* gLib = nullptr;
void* gCreate = nullptr;  // createInferBuilder_INTERNAL
std::string gLibPath, gVersion;
std::mutex gMutex;
}  // namespace

LoadResult loadTensorRT(const std::string& explicitPath) {
  std::lock_guard<std::mutex> lock(gMutex);
  LoadResult r;
  if (gLib) {
    r.ok = true;
    r.library = gLibPath;
    r.version = gVersion;
    return r;
  }
  std::vector<std::string> names;
  if (!explicitPath.empty()) names.push_back(explicitPath);
  if (const char* env = std::getenv("TENSORRT_LIB")) names.push_back(env);
#ifdef REDRAFT_HAVE_TRT_HEADERS
  // The library's major version must match the headers compiled in: try that one first.
  names.push_back("libnvinfer.so." + std::to_string(NV_TENSORRT_MAJOR));
#endif
  for (const char* n : {"libnvinfer.so.10", "libnvinfer.so.11", "libnvinfer.so"})
    if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
  std::string errors;
  for (const auto& n : names) {
    r.tried.push_back(n);
    void* h = dlopen(n.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      const char* e = dlerror();
      errors += (errors.empty() ? "" : "; ") + std::string(e ? e : n + ": not found");
      continue;
    }
    void* create = dlsym(h, "createInferBuilder_INTERNAL");
    if (!create) {
      errors += (errors.empty() ? "" : "; ") + n + ": no createInferBuilder_INTERNAL";
      dlclose(h);
      continue;
    }
    gLib = h;
    gCreate = create;
    gLibPath = n;
    if (auto ver = reinterpret_cast<int32_t (*)()>(dlsym(h, "getInferLibVersion"))) {
      int32_t v = ver();  // major*10000 + minor*100 + patch (TensorRT 10+)
      gVersion = std::to_string(v / 10000) + "." + std::to_string((v / 100) % 100) + "." + std::to_string(v % 100);
    }
    r.ok = true;
    r.library = n;
    r.version = gVersion;
    return r;
  }
  r.error = errors;
  return r;
}

#ifndef REDRAFT_HAVE_TRT_HEADERS

bool haveTrtHeaders() { return false; }
std::string headersVersion() { return ""; }

Napi::Value buildEngine(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto d = Napi::Promise::Deferred::New(env);
  d.Reject(Napi::Error::New(env,
                            "the native addon was built without TensorRT headers; rebuild with "
                            "TENSORRT_INCLUDE_DIR=/path/to/TensorRT/include npm run build:native")
               .Value());
  return d.Promise();
}

#else

using namespace nvinfer1;

// Public-header differences across the 10.x line (11.x has all of these):
// 10.1 adds UnaryOperation::kISNAN, 10.8 addCumulative, 10.14 the index dtype of addTopK/addNonZero.
#define REDRAFT_TRT_AT_LEAST(maj, min) (NV_TENSORRT_MAJOR > (maj) || (NV_TENSORRT_MAJOR == (maj) && NV_TENSORRT_MINOR >= (min)))

// The plan's enum tables mirror NvInfer.h; make the compiler check them.
static_assert(static_cast<int>(ElementWiseOperation::kLESS) == 13, "ElementWiseOperation values changed");
#if REDRAFT_TRT_AT_LEAST(10, 1)
static_assert(static_cast<int>(UnaryOperation::kISNAN) == 24, "UnaryOperation values changed");
#endif
static_assert(static_cast<int>(ActivationType::kGELU_TANH) == 13, "ActivationType values changed");
static_assert(static_cast<int>(ReduceOperation::kAVG) == 4, "ReduceOperation values changed");
static_assert(static_cast<int>(SampleMode::kFILL) == 3, "SampleMode values changed");
static_assert(static_cast<int>(GatherMode::kND) == 2, "GatherMode values changed");
static_assert(static_cast<int>(ScatterMode::kND) == 1, "ScatterMode values changed");
static_assert(static_cast<int>(DataType::kINT64) == 8 && static_cast<int>(DataType::kBF16) == 7, "DataType values changed");

bool haveTrtHeaders() { return true; }
std::string headersVersion() {
  return std::to_string(NV_TENSORRT_MAJOR) + "." + std::to_string(NV_TENSORRT_MINOR) + "." + std::to_string(NV_TENSORRT_PATCH);
}

namespace {

struct Message {
  std::string kind, text;
  int32_t done = 0, total = 0;
};

class Logger : public ILogger {
 public:
  explicit Logger(std::function<void(const std::string&, const std::string&)> sink) : sink_(std::move(sink)) {}
  void log(Severity s, AsciiChar const* msg) noexcept override {
    const char* sev = s == Severity::kINTERNAL_ERROR || s == Severity::kERROR ? "error" : s == Severity::kWARNING ? "warning" : s == Severity::kINFO ? "info" : "verbose";
    if (s != Severity::kVERBOSE) sink_(sev, msg);
  }

 private:
  std::function<void(const std::string&, const std::string&)> sink_;
};

class Progress : public IProgressMonitor {
 public:
  explicit Progress(std::function<void(const std::string&, int32_t, int32_t)> sink) : sink_(std::move(sink)) {}
  void phaseStart(char const* phase, char const*, int32_t steps) noexcept override {
    std::lock_guard<std::mutex> l(m_);
    totals_[phase] = steps;
    sink_(phase, 0, steps);
  }
  bool stepComplete(char const* phase, int32_t step) noexcept override {
    std::lock_guard<std::mutex> l(m_);
    sink_(phase, step + 1, totals_[phase]);
    return true;
  }
  void phaseFinish(char const* phase) noexcept override {
    std::lock_guard<std::mutex> l(m_);
    sink_(phase, totals_[phase], totals_[phase]);
  }

 private:
  std::mutex m_;
  std::map<std::string, int32_t> totals_;
  std::function<void(const std::string&, int32_t, int32_t)> sink_;
};

Dims toDims(const std::vector<int64_t>& v) {
  Dims d{};
  d.nbDims = static_cast<int32_t>(v.size());
  for (size_t i = 0; i < v.size() && i < static_cast<size_t>(Dims::MAX_DIMS); i++) d.d[i] = v[i];
  return d;
}

struct Replay {
  INetworkDefinition& net;
  const Plan& plan;
  std::map<int, ITensor*> t;

  ITensor& get(int id, const std::string& layer) {
    auto it = t.find(id);
    if (it == t.end()) throw std::runtime_error("layer '" + layer + "': tensor #" + std::to_string(id) + " is not defined");
    return *it->second;
  }
  ITensor& scalarAxis(int axis) {
    static std::vector<std::unique_ptr<int32_t>> keep;
    keep.push_back(std::make_unique<int32_t>(axis));
    Weights w{DataType::kINT32, keep.back().get(), 1};
    return *net.addConstant(Dims{0, {}}, w)->getOutput(0);
  }
  ILayer* add(const PlanLayer& l) {
    auto in = [&](size_t i) -> ITensor& { return get(l.inputs.at(i), l.name); };
    switch (l.method) {
      case Method::Constant: {
        const PlanWeights& w = plan.weights.at(l.weights);
        size_t elem = w.dtype == 8 ? 8 : (w.dtype == 1 || w.dtype == 7) ? 2 : (w.dtype == 2 || w.dtype == 4 || w.dtype == 5) ? 1 : 4;
        Weights tw{static_cast<DataType>(w.dtype), w.data, static_cast<int64_t>(w.bytes / elem)};
        return net.addConstant(toDims(l.dims), tw);
      }
      case Method::Shape: return net.addShape(in(0));
      case Method::Shuffle: {
        IShuffleLayer* s = net.addShuffle(in(0));
        if (!l.first.empty()) { Permutation p{}; for (size_t i = 0; i < l.first.size(); i++) p.order[i] = static_cast<int32_t>(l.first[i]); s->setFirstTranspose(p); }
        if (l.hasReshape) { if (l.dimsInput >= 0) s->setInput(1, get(l.dimsInput, l.name)); else s->setReshapeDimensions(toDims(l.dims)); }
        if (!l.second.empty()) { Permutation p{}; for (size_t i = 0; i < l.second.size(); i++) p.order[i] = static_cast<int32_t>(l.second[i]); s->setSecondTranspose(p); }
        s->setZeroIsPlaceholder(l.zeroIsPlaceholder);
        return s;
      }
      case Method::Concatenation: {
        std::vector<ITensor*> xs;
        for (size_t i = 0; i < l.inputs.size(); i++) xs.push_back(&in(i));
        IConcatenationLayer* c = net.addConcatenation(xs.data(), static_cast<int32_t>(xs.size()));
        c->setAxis(l.axis);
        return c;
      }
      case Method::GatherV2: {
        IGatherLayer* g = net.addGatherV2(in(0), in(1), static_cast<GatherMode>(l.op));
        g->setGatherAxis(l.axis);
        if (l.op == 2) g->setNbElementWiseDims(l.nbElementWiseDims);
        return g;
      }
      case Method::Slice: {
        ISliceLayer* s = net.addSlice(in(0), toDims(l.start), toDims(l.size), toDims(l.stride));
        if (l.startInput >= 0) s->setInput(1, get(l.startInput, l.name));
        if (l.sizeInput >= 0) s->setInput(2, get(l.sizeInput, l.name));
        if (l.strideInput >= 0) s->setInput(3, get(l.strideInput, l.name));
        s->setMode(static_cast<SampleMode>(l.op));
        return s;
      }
      case Method::ElementWise: return net.addElementWise(in(0), in(1), static_cast<ElementWiseOperation>(l.op));
      case Method::Unary: return net.addUnary(in(0), static_cast<UnaryOperation>(l.op));
      case Method::Activation: {
        IActivationLayer* a = net.addActivation(in(0), static_cast<ActivationType>(l.op));
        a->setAlpha(static_cast<float>(l.alpha));
        a->setBeta(static_cast<float>(l.beta));
        return a;
      }
      case Method::MatrixMultiply: return net.addMatrixMultiply(in(0), static_cast<MatrixOperation>(l.op), in(1), static_cast<MatrixOperation>(l.op1));
      case Method::SoftMax: {
        ISoftMaxLayer* s = net.addSoftMax(in(0));
        s->setAxes(l.axesMask);
        return s;
      }
      case Method::TopK:
#if REDRAFT_TRT_AT_LEAST(10, 14)
        return net.addTopK(in(0), static_cast<TopKOperation>(l.op), l.k, l.axesMask, DataType::kINT32);
#else
        return net.addTopK(in(0), static_cast<TopKOperation>(l.op), l.k, l.axesMask);  // int32 indices
#endif
      case Method::Reduce: return net.addReduce(in(0), static_cast<ReduceOperation>(l.op), l.axesMask, l.keepDims);
      case Method::Select: return net.addSelect(in(0), in(1), in(2));
      case Method::Fill: {
        IFillLayer* f = net.addFill(toDims(l.dims), FillOperation::kLINSPACE, static_cast<DataType>(l.dtype));
        if (l.dimsInput >= 0) f->setInput(0, get(l.dimsInput, l.name));
        f->setAlpha(l.alpha);
        f->setBeta(l.beta);
        return f;
      }
      case Method::Cumulative:
#if REDRAFT_TRT_AT_LEAST(10, 8)
        return net.addCumulative(in(0), scalarAxis(l.axis), CumulativeOperation::kSUM, l.exclusive, l.reverse);
#else
        throw std::runtime_error("layer '" + l.name + "': addCumulative needs TensorRT 10.8 or newer; these headers are " + headersVersion() +
                                 " (rebuild with TENSORRT_INCLUDE_DIR pointing at 10.8+ headers)");
#endif
      case Method::Cast: return net.addCast(in(0), static_cast<DataType>(l.dtype));
      case Method::Scatter: {
        IScatterLayer* s = net.addScatter(in(0), in(1), in(2), static_cast<ScatterMode>(l.op));
        s->setAxis(l.axis);
        return s;
      }
      case Method::NonZero:
#if REDRAFT_TRT_AT_LEAST(10, 14)
        return net.addNonZero(in(0), DataType::kINT64);
#else
        return net.addNonZero(in(0));  // int64 indices before 10.14
#endif
    }
    return nullptr;
  }
};

class BuildWorker : public Napi::AsyncWorker {
 public:
  BuildWorker(Napi::Env env, Plan plan, Napi::Object keepAlive, Napi::Object config, Napi::Function onProgress, Napi::Function onLog)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), plan_(std::move(plan)) {
    keep_ = Napi::Persistent(keepAlive);  // weights stay alive until the build finishes
    workspace_ = config.Get("workspaceBytes").IsNumber() ? config.Get("workspaceBytes").As<Napi::Number>().DoubleValue() : 0;
    optLevel_ = config.Get("optimizationLevel").IsNumber() ? config.Get("optimizationLevel").As<Napi::Number>().Int32Value() : 3;
    timingCache_ = config.Get("timingCache").IsString() ? config.Get("timingCache").As<Napi::String>().Utf8Value() : "";
    if (!onProgress.IsEmpty()) progress_ = Napi::ThreadSafeFunction::New(env, onProgress, "redraft-progress", 0, 1);
    if (!onLog.IsEmpty()) log_ = Napi::ThreadSafeFunction::New(env, onLog, "redraft-log", 0, 1);
  }
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    Logger logger([this](const std::string& s, const std::string& m) { emitLog(s, m); });
    auto create = reinterpret_cast<void* (*)(void*, int32_t)>(gCreate);
    std::unique_ptr<IBuilder> builder(static_cast<IBuilder*>(create(&logger, NV_TENSORRT_VERSION)));
    if (!builder) return SetError("createInferBuilder failed (TensorRT library and headers may not match)");
#if NV_TENSORRT_MAJOR >= 11
    NetworkDefinitionCreationFlags flags = 0;  // networks are always strongly typed in TensorRT 11
#else
    NetworkDefinitionCreationFlags flags = 1U << static_cast<uint32_t>(NetworkDefinitionCreationFlag::kSTRONGLY_TYPED);
#endif
    std::unique_ptr<INetworkDefinition> net(builder->createNetworkV2(flags));
    std::unique_ptr<IBuilderConfig> config(builder->createBuilderConfig());
    IOptimizationProfile* profile = builder->createOptimizationProfile();
    Replay r{*net, plan_, {}};
    try {
      for (const PlanInput& in : plan_.inputs) {
        r.t[in.id] = net->addInput(in.name.c_str(), static_cast<DataType>(in.dtype), toDims(in.dims));
        profile->setDimensions(in.name.c_str(), OptProfileSelector::kMIN, toDims(in.min));
        profile->setDimensions(in.name.c_str(), OptProfileSelector::kOPT, toDims(in.opt));
        profile->setDimensions(in.name.c_str(), OptProfileSelector::kMAX, toDims(in.max));
      }
      for (const PlanLayer& l : plan_.layers) {
        ILayer* layer = r.add(l);
        if (!layer) throw std::runtime_error("layer '" + l.name + "': TensorRT rejected " + l.methodName);
        layer->setName(l.name.c_str());
        for (size_t i = 0; i < l.outputs.size(); i++) r.t[l.outputs[i]] = layer->getOutput(static_cast<int32_t>(i));
      }
      for (const auto& [id, name] : plan_.outputs) {
        ITensor& t = r.get(id, name);
        t.setName(name.c_str());
        net->markOutput(t);
      }
    } catch (const std::exception& e) {
      return SetError(e.what());
    }
    config->addOptimizationProfile(profile);
    if (workspace_ > 0) config->setMemoryPoolLimit(MemoryPoolType::kWORKSPACE, static_cast<size_t>(workspace_));
    config->setBuilderOptimizationLevel(optLevel_);
    // Timing cache in and out: reuse kernel timings across builds of similar networks.
    std::unique_ptr<ITimingCache> cache;
    if (!timingCache_.empty()) {
      std::vector<char> blob;
      if (FILE* f = std::fopen(timingCache_.c_str(), "rb")) {
        std::fseek(f, 0, SEEK_END);
        blob.resize(static_cast<size_t>(std::ftell(f)));
        std::fseek(f, 0, SEEK_SET);
        if (!blob.empty() && std::fread(blob.data(), 1, blob.size(), f) != blob.size()) blob.clear();
        std::fclose(f);
      }
      cache.reset(config->createTimingCache(blob.empty() ? nullptr : blob.data(), blob.size()));
      if (cache) config->setTimingCache(*cache, false);
    }
    Progress monitor([this](const std::string& p, int32_t d, int32_t t) { emitProgress(p, d, t); });
    config->setProgressMonitor(&monitor);
    std::unique_ptr<IHostMemory> engine(builder->buildSerializedNetwork(*net, *config));
    if (!engine) return SetError("TensorRT could not build the engine (see the TensorRT log above)");
    bytes_.assign(static_cast<const uint8_t*>(engine->data()), static_cast<const uint8_t*>(engine->data()) + engine->size());
    if (cache) {
      std::unique_ptr<IHostMemory> out(cache->serialize());
      std::string tmp = timingCache_ + ".tmp";
      if (FILE* f = out ? std::fopen(tmp.c_str(), "wb") : nullptr) {
        bool ok = std::fwrite(out->data(), 1, out->size(), f) == out->size();
        std::fclose(f);
        if (ok) std::rename(tmp.c_str(), timingCache_.c_str());  // atomic replace
        else std::remove(tmp.c_str());
      }
    }
  }
  void OnOK() override {
    release();
    auto buf = Napi::ArrayBuffer::New(Env(), bytes_.size());
    std::memcpy(buf.Data(), bytes_.data(), bytes_.size());
    deferred_.Resolve(buf);
  }
  void OnError(const Napi::Error& e) override {
    release();
    deferred_.Reject(e.Value());
  }

 private:
  void emitLog(const std::string& sev, const std::string& msg) {
    if (!log_) return;
    auto* p = new std::pair<std::string, std::string>(sev, msg);
    log_.BlockingCall(p, [](Napi::Env env, Napi::Function f, std::pair<std::string, std::string>* d) {
      f.Call({Napi::String::New(env, d->first), Napi::String::New(env, d->second)});
      delete d;
    });
  }
  void emitProgress(const std::string& phase, int32_t done, int32_t total) {
    if (!progress_) return;
    auto* m = new Message{phase, "", done, total};
    progress_.BlockingCall(m, [](Napi::Env env, Napi::Function f, Message* d) {
      f.Call({Napi::String::New(env, d->kind), Napi::Number::New(env, d->done), Napi::Number::New(env, d->total)});
      delete d;
    });
  }
  void release() {
    if (progress_) progress_.Release();
    if (log_) log_.Release();
  }

  Napi::Promise::Deferred deferred_;
  Plan plan_;
  Napi::ObjectReference keep_;
  Napi::ThreadSafeFunction progress_, log_;
  double workspace_ = 0;
  std::string timingCache_;
  int32_t optLevel_ = 3;
  std::vector<uint8_t> bytes_;
};

}  // namespace

Napi::Value buildEngine(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto reject = [&](const std::string& m) {
    auto d = Napi::Promise::Deferred::New(env);
    d.Reject(Napi::Error::New(env, m).Value());
    return d.Promise();
  };
  LoadResult lib = loadTensorRT("");
  if (!lib.ok) return reject("libnvinfer.so.10 not found (tried " + std::to_string(lib.tried.size()) + " names: " + lib.error + "); set TENSORRT_LIB or LD_LIBRARY_PATH");
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsObject()) return reject("buildEngine(plan, config, onProgress?, onLog?)");
  Plan plan = decodePlan(info[0].As<Napi::Object>());
  Napi::Function onProgress = info.Length() > 2 && info[2].IsFunction() ? info[2].As<Napi::Function>() : Napi::Function();
  Napi::Function onLog = info.Length() > 3 && info[3].IsFunction() ? info[3].As<Napi::Function>() : Napi::Function();
  auto* w = new BuildWorker(env, std::move(plan), info[0].As<Napi::Object>(), info[1].As<Napi::Object>(), onProgress, onLog);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

#endif  // REDRAFT_HAVE_TRT_HEADERS

}  // namespace redraft
