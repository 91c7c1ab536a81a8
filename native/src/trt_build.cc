#include "trt_build.hh"

#include <dlfcn.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <stdexcept>

#include <algorithm>
#include <cmath>
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
  if (const char* env = std::getenv("TENSORRT_LIB"))
    if (*env) names.push_back(env);
#ifdef REDRAFT_HAVE_TRT_HEADERS
  // Only the library of the headers' major version can work (its vtables are what we compiled against).
  for (const std::string n : {"libnvinfer.so." + std::to_string(NV_TENSORRT_MAJOR), std::string("libnvinfer.so")})
    if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
#else
  for (const char* n : {"libnvinfer.so.10", "libnvinfer.so.11", "libnvinfer.so"})
    if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
#endif
  std::string errors;
  auto note = [&](const std::string& e) { errors += (errors.empty() ? "" : "; ") + e; };
  for (const auto& n : names) {
    r.tried.push_back(n);
    void* h = dlopen(n.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      const char* e = dlerror();
      note(e ? e : n + ": not found");
      continue;
    }
    void* create = dlsym(h, "createInferBuilder_INTERNAL");
    if (!create) {
      note(n + ": no createInferBuilder_INTERNAL");
      dlclose(h);
      continue;
    }
    std::string version;
    int32_t v = -1;
    if (auto ver = reinterpret_cast<int32_t (*)()>(dlsym(h, "getInferLibVersion"))) {
      v = ver();  // major*10000 + minor*100 + patch (TensorRT 10+)
      version = std::to_string(v / 10000) + "." + std::to_string((v / 100) % 100) + "." + std::to_string(v % 100);
    }
#ifdef REDRAFT_HAVE_TRT_HEADERS
    if (v < 0 || v / 10000 != NV_TENSORRT_MAJOR) {
      note(n + ": " + (v < 0 ? std::string("no getInferLibVersion") : "TensorRT " + version) + ", but the addon was compiled against TensorRT " +
           std::to_string(NV_TENSORRT_MAJOR) + "." + std::to_string(NV_TENSORRT_MINOR) + " headers (the major versions must match)");
      dlclose(h);
      continue;
    }
#endif
    gLib = h;
    gCreate = create;
    gLibPath = n;
    gVersion = version;
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

class Logger : public ILogger {
 public:
  explicit Logger(std::function<void(const std::string&, const std::string&)> sink) : sink_(std::move(sink)) {}
  void log(Severity s, AsciiChar const* msg) noexcept override {
    const char* sev = s == Severity::kINTERNAL_ERROR || s == Severity::kERROR ? "error" : s == Severity::kWARNING ? "warning" : s == Severity::kINFO ? "info" : "verbose";
    if (s == Severity::kINTERNAL_ERROR || s == Severity::kERROR) {
      std::lock_guard<std::mutex> l(m_);
      errors_.push_back(msg ? msg : "");
    }
    if (s != Severity::kVERBOSE) sink_(sev, msg ? msg : "");
  }
  /** Error messages logged since the last call (TensorRT says why an add* or a build failed here). */
  std::vector<std::string> takeErrors() {
    std::lock_guard<std::mutex> l(m_);
    std::vector<std::string> e;
    e.swap(errors_);
    return e;
  }

 private:
  std::mutex m_;
  std::vector<std::string> errors_;
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

uint16_t toHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000, exp = (x >> 23) & 0xff, man = x & 0x7fffff;
  if (exp == 0xff) return static_cast<uint16_t>(sign | 0x7c00 | (man ? 0x200 : 0));
  int e = static_cast<int>(exp) - 127 + 15;
  if (e >= 31) return static_cast<uint16_t>(sign | 0x7c00);
  if (e <= 0) {
    if (e < -10) return static_cast<uint16_t>(sign);
    man |= 0x800000;
    uint32_t shift = static_cast<uint32_t>(14 - e);
    uint32_t h = man >> shift, rem = man & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1))) h++;
    return static_cast<uint16_t>(sign | h);
  }
  uint32_t h = sign | (static_cast<uint32_t>(e) << 10) | (man >> 13);
  uint32_t rem = man & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;
  return static_cast<uint16_t>(h);
}
uint16_t toBf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffff) > 0x7f800000) return static_cast<uint16_t>((x >> 16) | 0x40);
  return static_cast<uint16_t>((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

/** A failure replaying one plan entry: the message names the layer and the user's line. */
struct LayerError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Replay {
  INetworkDefinition& net;
  const Plan& plan;
  Logger& logger;
  std::map<int, ITensor*> t;
  // Host memory of constants the bridge adds (axes, fill values): TensorRT reads weights
  // during the build, so they live as long as this replay (one per worker, never shared).
  std::vector<std::unique_ptr<uint8_t[]>> keep;
  const PlanLayer* cur = nullptr;

  std::string where(const PlanLayer& l) const {
    return "layer '" + l.name + "' (" + l.methodName + (l.site.empty() ? "" : ", at " + l.site) + ")";
  }
  [[noreturn]] void reject(const std::string& call) {
    std::string why;
    for (const auto& e : logger.takeErrors()) why += (why.empty() ? "" : "; ") + e;
    throw LayerError(where(*cur) + ": TensorRT rejected " + call + (why.empty() ? "" : ": " + why));
  }
  template <class L>
  L* check(L* layer, const std::string& call) {
    if (!layer) reject(call);
    return layer;
  }
  ITensor& out(ILayer* layer, int32_t i, const std::string& call) {
    ITensor* o = layer->getOutput(i);
    if (!o) reject(call + " (output " + std::to_string(i) + " is null)");
    return *o;
  }
  ITensor& get(int id) {
    auto it = t.find(id);
    if (it == t.end()) throw LayerError(where(*cur) + ": tensor #" + std::to_string(id) + " is not defined");
    return *it->second;
  }
  /** A 0-D constant of the given type holding v. */
  ITensor& scalar(DataType type, double v, const std::string& suffix) {
    size_t n = dataTypeSize(static_cast<int>(type));
    keep.push_back(std::make_unique<uint8_t[]>(8));
    uint8_t* p = keep.back().get();
    switch (type) {
      case DataType::kFLOAT: { float f = static_cast<float>(v); std::memcpy(p, &f, 4); break; }
      case DataType::kHALF: { uint16_t h = toHalf(static_cast<float>(v)); std::memcpy(p, &h, 2); break; }
      case DataType::kBF16: { uint16_t h = toBf16(static_cast<float>(v)); std::memcpy(p, &h, 2); break; }
      case DataType::kINT32: { int32_t x = static_cast<int32_t>(v); std::memcpy(p, &x, 4); break; }
      case DataType::kINT64: { int64_t x = static_cast<int64_t>(v); std::memcpy(p, &x, 8); break; }
      case DataType::kINT8: { int8_t x = static_cast<int8_t>(v); std::memcpy(p, &x, 1); break; }
      case DataType::kBOOL: case DataType::kUINT8: { uint8_t x = static_cast<uint8_t>(v != 0); std::memcpy(p, &x, 1); break; }
      default: throw LayerError(where(*cur) + ": no scalar constant of DataType " + std::to_string(static_cast<int>(type)));
    }
    (void)n;
    Weights w{type, p, 1};
    IConstantLayer* c = check(net.addConstant(Dims{0, {}}, w), "addConstant (" + suffix + ")");
    c->setName((cur->name + "/" + suffix).c_str());
    return out(c, 0, "addConstant (" + suffix + ")");
  }
  /** Casts output `o` of `layer` to the dtype the plan promises when TensorRT produced another one. */
  ITensor& promised(ITensor& o, size_t i) {
    if (i >= cur->outputDtypes.size() || cur->outputDtypes[i] < 0) return o;
    auto want = static_cast<DataType>(cur->outputDtypes[i]);
    if (o.getType() == want) return o;
    ICastLayer* c = check(net.addCast(o, want), "addCast (to the plan's output dtype)");
    c->setName((cur->name + "/cast" + std::to_string(i)).c_str());
    return out(c, 0, "addCast");
  }
  /** Adds the layer; returns its output tensors (after any cast the plan's dtypes need). */
  std::vector<ITensor*> add(const PlanLayer& l) {
    cur = &l;
    auto in = [&](size_t i) -> ITensor& {
      if (i >= l.inputs.size()) throw LayerError(where(l) + ": input " + std::to_string(i) + " is missing");
      return get(l.inputs[i]);
    };
    const std::string& call = l.methodName;
    ILayer* layer = nullptr;
    std::vector<bool> castable(l.outputs.size(), false);  // index outputs whose dtype depends on the headers
    switch (l.method) {
      case Method::Constant: {
        const PlanWeights& w = plan.weights.at(l.weights);
        Weights tw{static_cast<DataType>(w.dtype), w.data, w.count};  // count: elements (kINT4 packs two per byte)
        layer = check(net.addConstant(toDims(l.dims), tw), call);
        break;
      }
      case Method::Shape: layer = check(net.addShape(in(0)), call); break;
      case Method::Shuffle: {
        IShuffleLayer* s = check(net.addShuffle(in(0)), call);
        if (!l.first.empty()) { Permutation p{}; for (int i = 0; i < Dims::MAX_DIMS; i++) p.order[i] = i; for (size_t i = 0; i < l.first.size(); i++) p.order[i] = static_cast<int32_t>(l.first[i]); s->setFirstTranspose(p); }
        if (l.hasReshape) { if (l.dimsInput >= 0) s->setInput(1, get(l.dimsInput)); else s->setReshapeDimensions(toDims(l.dims)); }
        if (!l.second.empty()) { Permutation p{}; for (int i = 0; i < Dims::MAX_DIMS; i++) p.order[i] = i; for (size_t i = 0; i < l.second.size(); i++) p.order[i] = static_cast<int32_t>(l.second[i]); s->setSecondTranspose(p); }
        s->setZeroIsPlaceholder(l.zeroIsPlaceholder);
        layer = s;
        break;
      }
      case Method::Concatenation: {
        std::vector<ITensor*> xs;
        for (size_t i = 0; i < l.inputs.size(); i++) xs.push_back(&in(i));
        IConcatenationLayer* c = check(net.addConcatenation(xs.data(), static_cast<int32_t>(xs.size())), call);
        c->setAxis(l.axis);
        layer = c;
        break;
      }
      case Method::GatherV2: {
        IGatherLayer* g = check(net.addGatherV2(in(0), in(1), static_cast<GatherMode>(l.op)), call);
        // NvInfer.h: the gather axis is not used in kND mode, and setting it there is undefined behaviour.
        if (static_cast<GatherMode>(l.op) != GatherMode::kND) g->setGatherAxis(l.axis);
        if (static_cast<GatherMode>(l.op) == GatherMode::kND || l.nbElementWiseDims != 0) g->setNbElementWiseDims(l.nbElementWiseDims);
        layer = g;
        break;
      }
      case Method::Slice: {
        ISliceLayer* s = check(net.addSlice(in(0), toDims(l.start), toDims(l.size), toDims(l.stride)), call);
        if (l.startInput >= 0) s->setInput(1, get(l.startInput));
        if (l.sizeInput >= 0) s->setInput(2, get(l.sizeInput));
        if (l.strideInput >= 0) s->setInput(3, get(l.strideInput));
        s->setMode(static_cast<SampleMode>(l.op));
        // NvInfer.h: input 4 is the value kFILL uses out of bounds (a scalar of the input's type).
        if (static_cast<SampleMode>(l.op) == SampleMode::kFILL) s->setInput(4, scalar(in(0).getType(), l.fillValue, "fill_value"));
        layer = s;
        break;
      }
      case Method::ElementWise: layer = check(net.addElementWise(in(0), in(1), static_cast<ElementWiseOperation>(l.op)), call); break;
      case Method::Unary:
#if !REDRAFT_TRT_AT_LEAST(10, 1)
        if (l.op == 24) throw LayerError(where(l) + ": UnaryOperation::kISNAN needs TensorRT 10.1 or newer; these headers are " + headersVersion());
#endif
        layer = check(net.addUnary(in(0), static_cast<UnaryOperation>(l.op)), call);
        break;
      case Method::Activation: {
        IActivationLayer* a = check(net.addActivation(in(0), static_cast<ActivationType>(l.op)), call);
        a->setAlpha(static_cast<float>(l.alpha));
        a->setBeta(static_cast<float>(l.beta));
        layer = a;
        break;
      }
      case Method::MatrixMultiply: layer = check(net.addMatrixMultiply(in(0), static_cast<MatrixOperation>(l.op), in(1), static_cast<MatrixOperation>(l.op1)), call); break;
      case Method::SoftMax: {
        ISoftMaxLayer* s = check(net.addSoftMax(in(0)), call);
        s->setAxes(l.axesMask);
        layer = s;
        break;
      }
      case Method::TopK: {
#if REDRAFT_TRT_AT_LEAST(10, 14)
        DataType idx = l.outputDtypes.size() > 1 && l.outputDtypes[1] == static_cast<int>(DataType::kINT64) ? DataType::kINT64 : DataType::kINT32;
        layer = check(net.addTopK(in(0), static_cast<TopKOperation>(l.op), l.k, l.axesMask, idx), call);
#else
        layer = check(net.addTopK(in(0), static_cast<TopKOperation>(l.op), l.k, l.axesMask), call);  // int32 indices
#endif
        castable = {false, true};
        break;
      }
      case Method::Reduce: layer = check(net.addReduce(in(0), static_cast<ReduceOperation>(l.op), l.axesMask, l.keepDims), call); break;
      case Method::Select: layer = check(net.addSelect(in(0), in(1), in(2)), call); break;
      case Method::Fill: {
        IFillLayer* f = check(net.addFill(toDims(l.dims), FillOperation::kLINSPACE, static_cast<DataType>(l.dtype)), call);
        if (l.dimsInput >= 0) f->setInput(0, get(l.dimsInput));
        // int64 output: the int64 setters (exact beyond 2^53; NvInfer.h's isAlphaBetaInt64).
        if (static_cast<DataType>(l.dtype) == DataType::kINT64 && l.alpha == std::floor(l.alpha) && l.beta == std::floor(l.beta) && std::fabs(l.alpha) < 9.2e18 && std::fabs(l.beta) < 9.2e18) {
          f->setAlphaInt64(static_cast<int64_t>(l.alpha));
          f->setBetaInt64(static_cast<int64_t>(l.beta));
        } else {
          f->setAlpha(l.alpha);
          f->setBeta(l.beta);
        }
        layer = f;
        break;
      }
      case Method::Cumulative:
#if REDRAFT_TRT_AT_LEAST(10, 8)
        layer = check(net.addCumulative(in(0), scalar(DataType::kINT32, l.axis, "axis"), CumulativeOperation::kSUM, l.exclusive, l.reverse), call);
        break;
#else
        throw LayerError(where(l) + ": addCumulative needs TensorRT 10.8 or newer; these headers are " + headersVersion() +
                         " (rebuild with TENSORRT_INCLUDE_DIR pointing at 10.8+ headers)");
#endif
      case Method::Cast: layer = check(net.addCast(in(0), static_cast<DataType>(l.dtype)), call); break;
      case Method::Scatter: {
        IScatterLayer* s = check(net.addScatter(in(0), in(1), in(2), static_cast<ScatterMode>(l.op)), call);
        if (static_cast<ScatterMode>(l.op) == ScatterMode::kELEMENT) s->setAxis(l.axis);  // NvInfer.h: the axis of kELEMENT only
        layer = s;
        break;
      }
      case Method::NonZero:
#if REDRAFT_TRT_AT_LEAST(10, 14)
        layer = check(net.addNonZero(in(0), DataType::kINT64), call);
#else
        layer = check(net.addNonZero(in(0)), call);  // NvInfer.h before 10.14: int32 indices; cast below to the IR's int64
#endif
        castable = {true};
        if (l.outputDtypes.empty()) const_cast<PlanLayer&>(l).outputDtypes = {static_cast<int>(DataType::kINT64)};
        break;
      // Fused layers: the plan has them only when lowered for a version that has them (plan.ts).
      case Method::Attention:
      case Method::AttentionV2: {
#if REDRAFT_TRT_AT_LEAST(10, 14)
        // IAttention is not an ILayer: it is named and its output taken here.
        auto norm = static_cast<AttentionNormalizationOp>(l.op);
#if NV_TENSORRT_MAJOR >= 11
        CausalMaskKind kind = l.method == Method::AttentionV2 ? static_cast<CausalMaskKind>(l.op1) : (l.causal ? CausalMaskKind::kUPPER_LEFT : CausalMaskKind::kNONE);
        IAttention* a = check(net.addAttentionV2(in(0), in(1), in(2), norm, kind), call);
#else
        if (l.method == Method::AttentionV2)
          throw LayerError(where(l) + ": addAttentionV2 needs TensorRT 11.0 or newer; these headers are " + headersVersion() + " (lower the plan with --trt-version " + std::to_string(NV_TENSORRT_MAJOR) + "." + std::to_string(NV_TENSORRT_MINOR) + ")");
        IAttention* a = check(net.addAttention(in(0), in(1), in(2), norm, l.causal), call);
#endif
        if (l.inputs.size() > 3 && !a->setMask(in(3))) reject(call + " (setMask)");
        if (!a->setDecomposable(l.decomposable)) reject(call + " (setDecomposable)");
        a->setName(l.name.c_str());
        ITensor* o = a->getOutput(0);
        if (!o) reject(call + " (output 0 is null)");
        return {o};
#else
        throw LayerError(where(l) + ": " + call + " (IAttention) needs TensorRT 10.14 or newer; these headers are " + headersVersion() + " (lower the plan with --trt-version " + std::to_string(NV_TENSORRT_MAJOR) + "." + std::to_string(NV_TENSORRT_MINOR) + ")");
#endif
      }
      case Method::RotaryEmbedding: {
#if REDRAFT_TRT_AT_LEAST(10, 15)
        IRotaryEmbeddingLayer* r = check(net.addRotaryEmbedding(in(0), in(1), in(2), l.interleaved, l.rotaryDim), call);
        if (l.inputs.size() > 3) r->setInput(3, in(3));  // NvInfer.h: input 3 is the optional position ids
        layer = r;
        break;
#else
        throw LayerError(where(l) + ": addRotaryEmbedding needs TensorRT 10.15 or newer; these headers are " + headersVersion() + " (lower the plan with --trt-version " + std::to_string(NV_TENSORRT_MAJOR) + "." + std::to_string(NV_TENSORRT_MINOR) + ")");
#endif
      }
      case Method::KVCacheUpdate: {
#if REDRAFT_TRT_AT_LEAST(10, 15)
        // In place: the runtime binds the output to the cache's device address (NvInfer.h).
        layer = check(net.addKVCacheUpdate(in(0), in(1), in(2), static_cast<KVCacheMode>(l.op)), call);
        break;
#else
        throw LayerError(where(l) + ": addKVCacheUpdate needs TensorRT 10.15 or newer; these headers are " + headersVersion() + " (lower the plan with --trt-version " + std::to_string(NV_TENSORRT_MAJOR) + "." + std::to_string(NV_TENSORRT_MINOR) + ")");
#endif
      }
      case Method::Quantize: {
        IQuantizeLayer* q = check(net.addQuantize(in(0), in(1), static_cast<DataType>(l.dtype)), call);
        q->setAxis(l.axis);
        layer = q;
        break;
      }
      case Method::Dequantize: {
        IDequantizeLayer* q = check(net.addDequantize(in(0), in(1), static_cast<DataType>(l.dtype)), call);
        q->setAxis(l.axis);
        layer = q;
        break;
      }
      case Method::DistCollective: {
#if REDRAFT_TRT_AT_LEAST(10, 16)
        // groups: the ordered ranks of the communicator taking part (TensorRT reads them during the add).
        std::vector<int64_t> groups(l.groups);
        layer = check(net.addDistCollective(in(0), static_cast<CollectiveOperation>(l.op), static_cast<ReduceOperation>(l.op1), l.root, groups.empty() ? nullptr : groups.data(), static_cast<int64_t>(groups.size())), call);
        break;
#else
        throw LayerError(where(l) + ": addDistCollective needs TensorRT 10.16 or newer; these headers are " + headersVersion() + " (tensor-parallel engines need TensorRT 10.16+ headers)");
#endif
      }
    }
    layer->setName(l.name.c_str());
    if (layer->getNbOutputs() < static_cast<int32_t>(l.outputs.size())) reject(call + " (fewer outputs than the plan has)");
    std::vector<ITensor*> outs;
    for (size_t i = 0; i < l.outputs.size(); i++) {
      ITensor& o = out(layer, static_cast<int32_t>(i), call);
      outs.push_back(i < castable.size() && castable[i] ? &promised(o, i) : &o);
    }
    return outs;
  }
};

struct EngineHold {
  std::unique_ptr<IHostMemory> mem;
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
    build();
    flush();  // every log line and progress step reaches JavaScript before the promise settles
  }
  void build() {
    // Declared before the builder and config that use them, so destroyed after them (NvInfer.h:
    // the progress monitor and the timing cache must outlive the builder config).
    Logger logger([this](const std::string& s, const std::string& m) { emitLog(s, m); });
    Progress monitor([this](const std::string& p, int32_t d, int32_t t) { emitProgress(p, d, t); });
    std::unique_ptr<ITimingCache> cache;
    auto create = reinterpret_cast<void* (*)(void*, int32_t)>(gCreate);
    std::unique_ptr<IBuilder> builder(static_cast<IBuilder*>(create(&logger, NV_TENSORRT_VERSION)));
    auto logged = [&]() {
      std::string why;
      for (const auto& e : logger.takeErrors()) why += (why.empty() ? "" : "; ") + e;
      return why;
    };
    if (!builder) return SetError("createInferBuilder failed (TensorRT library and headers may not match): " + logged());
#if NV_TENSORRT_MAJOR >= 11
    NetworkDefinitionCreationFlags flags = 0;  // networks are always strongly typed in TensorRT 11
#else
    NetworkDefinitionCreationFlags flags = 1U << static_cast<uint32_t>(NetworkDefinitionCreationFlag::kSTRONGLY_TYPED);
#endif
    std::unique_ptr<INetworkDefinition> net(builder->createNetworkV2(flags));
    if (!net) return SetError("TensorRT could not create a network definition: " + logged());
    std::unique_ptr<IBuilderConfig> config(builder->createBuilderConfig());
    if (!config) return SetError("TensorRT could not create a builder config: " + logged());
    IOptimizationProfile* profile = builder->createOptimizationProfile();  // owned by the builder
    if (!profile) return SetError("TensorRT could not create an optimization profile: " + logged());
    Replay r{*net, plan_, logger, {}, {}, nullptr};
    try {
      for (const PlanInput& in : plan_.inputs) {
        ITensor* x = net->addInput(in.name.c_str(), static_cast<DataType>(in.dtype), toDims(in.dims));
        if (!x) throw LayerError("network input '" + in.name + "': TensorRT rejected addInput: " + logged());
        r.t[in.id] = x;
        bool ok = profile->setDimensions(in.name.c_str(), OptProfileSelector::kMIN, toDims(in.min)) &&
                  profile->setDimensions(in.name.c_str(), OptProfileSelector::kOPT, toDims(in.opt)) &&
                  profile->setDimensions(in.name.c_str(), OptProfileSelector::kMAX, toDims(in.max));
        if (!ok) throw LayerError("network input '" + in.name + "': TensorRT rejected its profile dimensions: " + logged());
        if (in.hasShapeValues) {
          const std::vector<int64_t>* v[3] = {&in.valuesMin, &in.valuesOpt, &in.valuesMax};
          OptProfileSelector sel[3] = {OptProfileSelector::kMIN, OptProfileSelector::kOPT, OptProfileSelector::kMAX};
          for (int s = 0; s < 3; s++) {
            int32_t n = static_cast<int32_t>(v[s]->size());
#if REDRAFT_TRT_AT_LEAST(10, 11)
            ok = profile->setShapeValuesV2(in.name.c_str(), sel[s], v[s]->data(), n);
#else
            std::vector<int32_t> v32;
            for (int64_t x : *v[s]) {
              if (x < INT32_MIN || x > INT32_MAX) throw LayerError("network input '" + in.name + "': shape value " + std::to_string(x) + " does not fit int32 (setShapeValues before TensorRT 10.11)");
              v32.push_back(static_cast<int32_t>(x));
            }
            ok = profile->setShapeValues(in.name.c_str(), sel[s], v32.data(), n);
#endif
            if (!ok) throw LayerError("network input '" + in.name + "': TensorRT rejected its shape values: " + logged());
          }
        }
      }
      for (const PlanLayer& l : plan_.layers) {
        std::vector<ITensor*> outs = r.add(l);
        for (size_t i = 0; i < l.outputs.size(); i++) r.t[l.outputs[i]] = outs[i];
      }
      // Outputs: a network input, or a tensor already named as another output, gets an identity
      // layer of its own rather than being renamed in place.
      std::map<ITensor*, std::string> named;
      for (const auto& [id, name] : plan_.outputs) {
        auto it = r.t.find(id);
        if (it == r.t.end()) throw LayerError("output '" + name + "': tensor #" + std::to_string(id) + " is not defined");
        ITensor* x = it->second;
        if (x->isNetworkInput() || named.count(x)) {
          IIdentityLayer* idl = net->addIdentity(*x);
          if (!idl) throw LayerError("output '" + name + "': TensorRT rejected addIdentity: " + logged());
          idl->setName((name + "/identity").c_str());
          x = idl->getOutput(0);
          if (!x) throw LayerError("output '" + name + "': addIdentity has no output");
        }
        x->setName(name.c_str());
        named[x] = name;
        net->markOutput(*x);
      }
    } catch (const std::exception& e) {
      return SetError(e.what());
    }
    if (config->addOptimizationProfile(profile) < 0) return SetError("TensorRT rejected the optimization profile: " + logged());
    if (workspace_ > 0) config->setMemoryPoolLimit(MemoryPoolType::kWORKSPACE, static_cast<size_t>(workspace_));
    config->setBuilderOptimizationLevel(optLevel_);
    // Timing cache in and out: reuse kernel timings across builds of similar networks.
    if (!timingCache_.empty()) {
      std::vector<char> blob;
      if (FILE* f = std::fopen(timingCache_.c_str(), "rb")) {
        std::fseek(f, 0, SEEK_END);
        long n = std::ftell(f);
        blob.resize(n > 0 ? static_cast<size_t>(n) : 0);
        std::fseek(f, 0, SEEK_SET);
        bool ok = blob.empty() || std::fread(blob.data(), 1, blob.size(), f) == blob.size();
        std::fclose(f);
        if (!ok) return SetError("the timing cache '" + timingCache_ + "' could not be read");
      } else if (errno != ENOENT) {
        return SetError("the timing cache '" + timingCache_ + "' could not be opened: " + std::strerror(errno));
      }
      cache.reset(config->createTimingCache(blob.empty() ? nullptr : blob.data(), blob.size()));
      if (!cache)
        return SetError("the timing cache '" + timingCache_ + "' is corrupt or from another TensorRT version (" + logged() +
                        "); delete it or pass another --timing-cache");
      if (!config->setTimingCache(*cache, false)) return SetError("TensorRT refused the timing cache '" + timingCache_ + "': " + logged());
    }
    config->setProgressMonitor(&monitor);
    std::unique_ptr<IHostMemory> engine(builder->buildSerializedNetwork(*net, *config));
    if (!engine) {
      std::string why = logged();
      // Name the user's line of every layer the log mentions.
      std::string sites;
      for (const PlanLayer& l : plan_.layers)
        if (!l.site.empty() && why.find("'" + l.name + "'") != std::string::npos) sites += (sites.empty() ? "" : ", ") + l.name + " at " + l.site;
      return SetError("TensorRT could not build the engine" + (why.empty() ? std::string(" (see the TensorRT log above)") : ": " + why) + (sites.empty() ? "" : " (" + sites + ")"));
    }
    if (cache) {
      std::unique_ptr<IHostMemory> out(cache->serialize());
      std::string tmp = timingCache_ + ".tmp";
      if (FILE* f = out ? std::fopen(tmp.c_str(), "wb") : nullptr) {
        bool ok = std::fwrite(out->data(), 1, out->size(), f) == out->size();
        ok = std::fclose(f) == 0 && ok;
        if (ok) std::rename(tmp.c_str(), timingCache_.c_str());  // atomic replace
        else std::remove(tmp.c_str());
      }
    }
    engine_ = std::make_shared<EngineHold>();
    engine_->mem = std::move(engine);
    // config, net, builder go here, then cache, monitor and logger.
  }
  void OnOK() override {
    release();
    Napi::Env env = Env();
    auto hold = engine_;
    auto o = Napi::Object::New(env);
    o.Set("size", Napi::Number::New(env, static_cast<double>(hold->mem->size())));
    // Writes the engine to a file descriptor from C++: no copy, no 4 GiB ArrayBuffer limit.
    o.Set("writeTo", Napi::Function::New(env, [hold](const Napi::CallbackInfo& info) -> Napi::Value {
      Napi::Env env = info.Env();
      if (!hold->mem) throw Napi::Error::New(env, "the engine was released");
      if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "writeTo(fd)");
      int fd = info[0].As<Napi::Number>().Int32Value();
      const char* p = static_cast<const char*>(hold->mem->data());
      size_t left = hold->mem->size();
      while (left > 0) {
        ssize_t n = ::write(fd, p, std::min<size_t>(left, size_t(1) << 30));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) throw Napi::Error::New(env, std::string("writing the engine failed: ") + std::strerror(errno));
        p += n;
        left -= static_cast<size_t>(n);
      }
      return env.Undefined();
    }));
    // The engine bytes as an ArrayBuffer over TensorRT's own memory (zero-copy; below 4 GiB).
    o.Set("arrayBuffer", Napi::Function::New(env, [hold](const Napi::CallbackInfo& info) -> Napi::Value {
      Napi::Env env = info.Env();
      if (!hold->mem) throw Napi::Error::New(env, "the engine was released");
      size_t n = hold->mem->size();
      if (n >= (size_t(1) << 32)) throw Napi::RangeError::New(env, "the engine is " + std::to_string(n) + " bytes, over the 4 GiB a JavaScript ArrayBuffer can hold; write it with writeTo(fd)");
      auto* keep = new std::shared_ptr<EngineHold>(hold);
      return Napi::ArrayBuffer::New(env, hold->mem->data(), n, [](Napi::Env, void*, std::shared_ptr<EngineHold>* k) { delete k; }, keep);
    }));
    o.Set("release", Napi::Function::New(env, [hold](const Napi::CallbackInfo& info) -> Napi::Value {
      hold->mem.reset();
      return info.Env().Undefined();
    }));
    deferred_.Resolve(o);
  }
  void OnError(const Napi::Error& e) override {
    release();
    deferred_.Reject(e.Value());
  }

 private:
  struct Message {
    std::string a, b;
    int32_t done = 0, total = 0;
    BuildWorker* w = nullptr;
  };
  void queued() {
    std::lock_guard<std::mutex> l(pendingMutex_);
    pending_++;
  }
  void delivered() {
    std::lock_guard<std::mutex> l(pendingMutex_);
    if (--pending_ == 0) pendingDone_.notify_all();
  }
  void flush() {
    std::unique_lock<std::mutex> l(pendingMutex_);
    // Bounded: if the JavaScript side is gone (process exiting) the calls never run.
    pendingDone_.wait_for(l, std::chrono::seconds(60), [this] { return pending_ == 0; });
  }
  void emitLog(const std::string& sev, const std::string& msg) {
    if (!log_) return;
    auto* m = new Message{sev, msg, 0, 0, this};
    queued();
    if (log_.BlockingCall(m, [](Napi::Env env, Napi::Function f, Message* d) {
          std::unique_ptr<Message> m(d);
          struct Done { BuildWorker* w; ~Done() { w->delivered(); } } done{d->w};  // even if the callback throws
          if (env && f) f.Call({Napi::String::New(env, d->a), Napi::String::New(env, d->b)});
        }) != napi_ok) {
      delete m;
      delivered();
    }
  }
  void emitProgress(const std::string& phase, int32_t done, int32_t total) {
    if (!progress_) return;
    auto* m = new Message{phase, "", done, total, this};
    queued();
    if (progress_.BlockingCall(m, [](Napi::Env env, Napi::Function f, Message* d) {
          std::unique_ptr<Message> m(d);
          struct Done { BuildWorker* w; ~Done() { w->delivered(); } } done{d->w};  // even if the callback throws
          if (env && f) f.Call({Napi::String::New(env, d->a), Napi::Number::New(env, d->done), Napi::Number::New(env, d->total)});
        }) != napi_ok) {
      delete m;
      delivered();
    }
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
  std::shared_ptr<EngineHold> engine_;
  std::mutex pendingMutex_;
  std::condition_variable pendingDone_;
  int pending_ = 0;
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
  if (!lib.ok) {
    std::string tried;
    for (const auto& n : lib.tried) tried += (tried.empty() ? "" : ", ") + n;
    return reject("TensorRT library not usable (tried " + tried + ": " + lib.error + "); set TENSORRT_LIB or LD_LIBRARY_PATH");
  }
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsObject()) return reject("buildEngine(plan, config, onProgress?, onLog?)");
  Plan plan;
  try {
    plan = decodePlan(info[0].As<Napi::Object>());
  } catch (const Napi::Error& e) {
    auto d = Napi::Promise::Deferred::New(env);
    d.Reject(e.Value());
    return d.Promise();
  }
  Napi::Function onProgress = info.Length() > 2 && info[2].IsFunction() ? info[2].As<Napi::Function>() : Napi::Function();
  Napi::Function onLog = info.Length() > 3 && info[3].IsFunction() ? info[3].As<Napi::Function>() : Napi::Function();
  auto* w = new BuildWorker(env, std::move(plan), info[0].As<Napi::Object>(), info[1].As<Napi::Object>(), onProgress, onLog);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

#endif  // REDRAFT_HAVE_TRT_HEADERS

}  // namespace redraft
