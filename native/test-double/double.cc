// redraft's TensorRT double: a stand-in for libnvinfer built only from TensorRT's public
// headers. It exports createInferBuilder_INTERNAL and getInferLibVersion, implements the
// apiv::V* interfaces that redraft's bridge uses (the rest, generated from NvInferImpl.h by
// gen.mjs, record the call and return defaults), records every call, infers output dtypes and
// ranks, rejects what TensorRT documents as invalid (add* returns nullptr, or the build fails
// with an error naming the layer), and "builds" an engine that is the JSON record of the
// network. Fault injection: REDRAFT_TRT_DOUBLE_FAIL=slice,topk,... makes those add* calls (or
// input, output, builder, network, config, profile, build) fail. REDRAFT_TRT_DOUBLE_ENGINE_BYTES
// pads the engine to that size (sparse, for the >= 4 GiB path).
#include "core.hh"

#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include "rdd_generated.hh"

#define RDD_AT_LEAST(maj, min) (NV_TENSORRT_MAJOR > (maj) || (NV_TENSORRT_MAJOR == (maj) && NV_TENSORRT_MINOR >= (min)))

namespace rdd {

namespace {
std::atomic<int> gIds{1};
int nextId() { return gIds++; }

std::set<std::string> faults() {
  std::set<std::string> out;
  const char* e = std::getenv("REDRAFT_TRT_DOUBLE_FAIL");
  if (!e) return out;
  std::string s(e), cur;
  auto norm = [](std::string x) {
    std::transform(x.begin(), x.end(), x.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (x.rfind("add", 0) == 0 && x.size() > 3) x = x.substr(3);
    if (x.size() > 2 && x.compare(x.size() - 2, 2, "v2") == 0) x = x.substr(0, x.size() - 2);
    return x;
  };
  for (char c : s + ",") {
    if (c == ',') { if (!cur.empty()) out.insert(norm(cur)); cur.clear(); }
    else if (c != ' ') cur += c;
  }
  return out;
}
// Read at every call, so one process can inject different faults build after build.
bool faulty(const std::string& what) { return faults().count(what) > 0; }

Dims mk(std::vector<int64_t> v) {
  Dims d{};
  d.nbDims = static_cast<int32_t>(v.size());
  for (size_t i = 0; i < v.size() && i < static_cast<size_t>(Dims::MAX_DIMS); i++) d.d[i] = v[i];
  return d;
}
std::string b64(const uint8_t* p, size_t n) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string o;
  o.reserve((n + 2) / 3 * 4);
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = p[i] << 16 | (i + 1 < n ? p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
    o += t[v >> 18 & 63];
    o += t[v >> 12 & 63];
    o += i + 1 < n ? t[v >> 6 & 63] : '=';
    o += i + 2 < n ? t[v & 63] : '=';
  }
  return o;
}
bool isFloat(DataType t) { return t == DataType::kFLOAT || t == DataType::kHALF || t == DataType::kBF16; }
/** The sub-byte types (kINT4 = 9, kFP4 = 10): Weights::count counts elements, packed two per byte. */
bool subByte(DataType t) { return static_cast<int>(t) == 9 || static_cast<int>(t) == 10; }
/** Bytes a Weights of `count` elements of `t` holds. */
size_t weightBytes(DataType t, int64_t count) { return subByte(t) ? static_cast<size_t>((count + 1) / 2) : static_cast<size_t>(count) * elemSize(t); }
/** The quantized element types: kINT8, kFP8, kINT4 and kFP4 (10.9+). */
bool isQuantized(DataType t) { int v = static_cast<int>(t); return v == 2 || v == 6 || v == 9 || v == 10; }
std::string dtName(DataType t) {
  static const char* n[] = {"kFLOAT", "kHALF", "kINT8", "kINT32", "kBOOL", "kUINT8", "kFP8", "kBF16", "kINT64", "kINT4", "kFP4", "kE8M0"};
  int v = static_cast<int>(t);
  return v >= 0 && v < 12 ? n[v] : "DataType " + std::to_string(v);
}
}  // namespace

struct Net;
struct Layer;

struct Tensor final : ITensor {
  struct Impl : GenVTensor {
    Tensor* t = nullptr;
    void setName(char const* name) noexcept override;
    char const* getName() const noexcept override { return t->name.c_str(); }
    void setDimensions(Dims const& dimensions) noexcept override;
    Dims getDimensions() const noexcept override;
    DataType getType() const noexcept override;
    bool isNetworkInput() const noexcept override { return t->input; }
    bool isNetworkOutput() const noexcept override { return t->output; }
  } impl;
  Net* net = nullptr;
  int id = 0;
  std::string name;
  DataType type = DataType::kFLOAT;
  Dims dims{};
  bool input = false, output = false;
  Layer* producer = nullptr;
  // Build-time values of small int shape tensors (TensorRT folds these): kUnknown where not known.
  std::vector<int64_t> vals;
  bool hasVals = false;
  Tensor() { mImpl = &impl; impl.t = this; }
};

int tensorId(const ITensor* t) { return t ? static_cast<const Tensor*>(t)->id : -1; }
struct Layer;
void infer(Layer& L);
/** Our tensor behind a TensorRT one, its dtype and dims brought up to date (setters may have changed its producer). */
Tensor* T(ITensor* t);
Tensor* T(const ITensor& t) { return T(const_cast<ITensor*>(&t)); }

constexpr int64_t kUnknown = INT64_MIN;

struct FaceBase {
  virtual ~FaceBase() = default;
};

/** A layer's state: what the add* call and the setters said, in TensorRT's terms. */
struct Layer {
  Net* net = nullptr;
  int id = 0;
  std::string method, name;
  LayerType type{};
  std::vector<Tensor*> inputs;
  std::vector<int> setInputs;
  std::vector<std::unique_ptr<Tensor>> outputs;
  std::vector<std::pair<std::string, std::string>> params;  // final parameter values (JSON)
  std::vector<uint8_t> weights;
  DataType weightsType{};
  std::unique_ptr<FaceBase> face;
  ILayer* iface = nullptr;
  // Parameters inference reads.
  int op = 0, op1 = 0, axis = 0, k = 0, nbEW = 0;
  uint32_t axes = 0;
  bool keep = false, zeroIsPh = true, hasReshape = false, gatherAxisSet = false;
  bool dirty = true;  // parameters changed since the outputs were last inferred
  Dims start{}, size{}, stride{}, reshape{}, fillDims{};
  Permutation first{}, second{};
  DataType toType{};
  DataType indexType = DataType::kINT32;
  // IAttention (not an ILayer: its face is kept here, and getLayer skips it), rotary, Q/DQ, collectives.
  bool attention = false, causal = false, decomposable = false, interleaved = false;
  void* attentionFace = nullptr;
  int rotaryDim = 0;
  int64_t root = -1;
  std::vector<int64_t> groups;
  Dims blockShape{0, {}};

  void param(const std::string& k, const std::string& v) {
    for (auto& p : params)
      if (p.first == k) { p.second = v; return; }
    params.emplace_back(k, v);
  }
  Tensor* in(size_t i) const { return i < inputs.size() ? inputs[i] : nullptr; }
  std::string where() const { return "layer '" + (name.empty() ? method + "#" + std::to_string(id) : name) + "' (" + method + ")"; }
};

struct Profile;
struct TimingCache;

struct Net {
  Rec* rec = nullptr;
  ILogger* logger = nullptr;
  uint32_t flags = 0;
  std::vector<std::unique_ptr<Tensor>> inputs;
  std::vector<std::unique_ptr<Layer>> layers;
  std::vector<Tensor*> outputs;
  std::vector<std::string> errors;  // recorded by setters; fail the build
  std::string name;
  bool building = false;  // inside buildSerializedNetwork (every layer's parameters are final)
  void error(const std::string& m) {
    errors.push_back(m);
    if (logger) logger->log(ILogger::Severity::kERROR, m.c_str());
  }
};

Tensor* T(ITensor* t) {
  auto* p = static_cast<Tensor*>(t);
  if (p && p->producer) infer(*p->producer);
  return p;
}

void Tensor::Impl::setName(char const* name) noexcept {
  call(rddRec, "VTensor", rddId, "setName", args(name), false);
  t->name = name ? name : "";
}
void Tensor::Impl::setDimensions(Dims const& d) noexcept {
  call(rddRec, "VTensor", rddId, "setDimensions", args(d), false);
  if (t->input) t->dims = d;
}
void infer(Layer& L);
Dims Tensor::Impl::getDimensions() const noexcept {
  if (t->producer) infer(*t->producer);
  return t->dims;
}
DataType Tensor::Impl::getType() const noexcept {
  if (t->producer) infer(*t->producer);
  return t->type;
}

// ---- layers -------------------------------------------------------------------------------

struct LayerCore : GenVLayer {
  Layer* L = nullptr;
  LayerType getType() const noexcept override { return L->type; }
  void setName(char const* name) noexcept override {
    call(rddRec, "VLayer", rddId, "setName", args(name), false);
    L->name = name ? name : "";
  }
  char const* getName() const noexcept override { return L->name.c_str(); }
  int32_t getNbInputs() const noexcept override { return static_cast<int32_t>(L->inputs.size()); }
  ITensor* getInput(int32_t i) const noexcept override { return i >= 0 && i < static_cast<int32_t>(L->inputs.size()) ? L->inputs[i] : nullptr; }
  int32_t getNbOutputs() const noexcept override { return static_cast<int32_t>(L->outputs.size()); }
  ITensor* getOutput(int32_t i) const noexcept override {
    call(rddRec, "VLayer", rddId, "getOutput", args(i), false);
    if (faulty("getoutput")) return nullptr;
    return i >= 0 && i < static_cast<int32_t>(L->outputs.size()) ? L->outputs[i].get() : nullptr;
  }
  void setInput(int32_t i, ITensor& t) noexcept override;
  DataType getOutputType(int32_t i) const noexcept override {
    infer(*L);
    return i >= 0 && i < static_cast<int32_t>(L->outputs.size()) ? L->outputs[i]->type : DataType::kFLOAT;
  }
};

template <class Face, class Impl>
struct FaceT final : Face, FaceBase {
  LayerCore core;
  Impl impl;
  FaceT(Layer* L, Rec* rec) {
    core.L = L;
    impl.L = L;
    core.rddRec = impl.rddRec = rec;
    core.rddId = impl.rddId = L->id;
    this->mLayer = &core;
    this->mImpl = &impl;
  }
};

#define RDD_REC(iface, m, ...) call(rddRec, iface, rddId, m, args(__VA_ARGS__), false)
#define RDD_SET(iface, m, ...) (call(rddRec, iface, rddId, m, args(__VA_ARGS__), false), L->dirty = true)

struct ConstantImpl : GenVConstantLayer { Layer* L = nullptr; };
struct ShapeImpl : GenVShapeLayer { Layer* L = nullptr; };
struct ShuffleImpl : GenVShuffleLayer {
  Layer* L = nullptr;
  void setFirstTranspose(Permutation const& p) noexcept override { RDD_SET("VShuffleLayer", "setFirstTranspose", p); L->first = p; L->param("firstTranspose", J(p)); }
  Permutation const& getFirstTranspose() const noexcept override { return L->first; }
  void setReshapeDimensions(Dims const& d) noexcept override {
    RDD_SET("VShuffleLayer", "setReshapeDimensions", d);
    if (d.nbDims < 0 || d.nbDims > Dims::MAX_DIMS) return L->net->error(L->where() + ": reshape dimensions rank " + std::to_string(d.nbDims) + " is outside [0, 8]");
    L->reshape = d;
    L->hasReshape = true;
    L->param("reshapeDims", J(d));
  }
  Dims getReshapeDimensions() const noexcept override { return L->hasReshape ? L->reshape : Dims{-1, {}}; }
  void setSecondTranspose(Permutation const& p) noexcept override { RDD_SET("VShuffleLayer", "setSecondTranspose", p); L->second = p; L->param("secondTranspose", J(p)); }
  Permutation const& getSecondTranspose() const noexcept override { return L->second; }
  void setZeroIsPlaceholder(bool z) noexcept override { RDD_SET("VShuffleLayer", "setZeroIsPlaceholder", z); L->zeroIsPh = z; L->param("zeroIsPlaceholder", J(z)); }
  bool getZeroIsPlaceholder() const noexcept override { return L->zeroIsPh; }
};
struct ConcatImpl : GenVConcatenationLayer {
  Layer* L = nullptr;
  void setAxis(int32_t a) noexcept override { RDD_SET("VConcatenationLayer", "setAxis", a); L->axis = a; L->param("axis", J(a)); }
  int32_t getAxis() const noexcept override { return L->axis; }
};
struct GatherImpl : GenVGatherLayer {
  Layer* L = nullptr;
  void setGatherAxis(int32_t a) noexcept override {
    RDD_SET("VGatherLayer", "setGatherAxis", a);
    // NvInfer.h: "the axis must be less than the number of dimensions in the data input"; in
    // kND mode the axis is not used and setting it is undefined behaviour.
    if (L->op == static_cast<int>(GatherMode::kND)) L->net->error(L->where() + ": setGatherAxis called in kND mode (undefined behaviour)");
    L->axis = a;
    L->gatherAxisSet = true;
    L->param("axis", J(a));
  }
  int32_t getGatherAxis() const noexcept override { return L->axis; }
  void setNbElementWiseDims(int32_t k) noexcept override { RDD_SET("VGatherLayer", "setNbElementWiseDims", k); L->nbEW = k; L->param("nbElementWiseDims", J(k)); }
  int32_t getNbElementWiseDims() const noexcept override { return L->nbEW; }
  void setMode(GatherMode m) noexcept override { RDD_SET("VGatherLayer", "setMode", m); L->op = static_cast<int>(m); L->param("mode", J(m)); }
  GatherMode getMode() const noexcept override { return static_cast<GatherMode>(L->op); }
};
struct SliceImpl : GenVSliceLayer {
  Layer* L = nullptr;
  void setStart(Dims const& d) noexcept override { RDD_SET("VSliceLayer", "setStart", d); L->start = d; L->param("start", J(d)); }
  Dims getStart() const noexcept override { return L->start; }
  void setSize(Dims const& d) noexcept override { RDD_SET("VSliceLayer", "setSize", d); L->size = d; L->param("size", J(d)); }
  Dims getSize() const noexcept override { return L->size; }
  void setStride(Dims const& d) noexcept override { RDD_SET("VSliceLayer", "setStride", d); L->stride = d; L->param("stride", J(d)); }
  Dims getStride() const noexcept override { return L->stride; }
  void setMode(SampleMode m) noexcept override { RDD_SET("VSliceLayer", "setMode", m); L->op = static_cast<int>(m); L->param("mode", J(m)); }
  SampleMode getMode() const noexcept override { return static_cast<SampleMode>(L->op); }
};
struct ElementWiseImpl : GenVElementWiseLayer { Layer* L = nullptr; };
struct UnaryImpl : GenVUnaryLayer { Layer* L = nullptr; };
struct ActivationImpl : GenVActivationLayer {
  Layer* L = nullptr;
  float alpha = 0, beta = 0;
  void setAlpha(float a) noexcept override { RDD_SET("VActivationLayer", "setAlpha", a); alpha = a; L->param("alpha", J(a)); }
  void setBeta(float b) noexcept override { RDD_SET("VActivationLayer", "setBeta", b); beta = b; L->param("beta", J(b)); }
  float getAlpha() const noexcept override { return alpha; }
  float getBeta() const noexcept override { return beta; }
};
struct MatMulImpl : GenVMatrixMultiplyLayer { Layer* L = nullptr; };
struct SoftMaxImpl : GenVSoftMaxLayer {
  Layer* L = nullptr;
  void setAxes(uint32_t a) noexcept override { RDD_SET("VSoftMaxLayer", "setAxes", a); L->axes = a; L->param("axes", J(a)); }
  uint32_t getAxes() const noexcept override { return L->axes; }
};
struct TopKImpl : GenVTopKLayer { Layer* L = nullptr; };
struct ReduceImpl : GenVReduceLayer { Layer* L = nullptr; };
struct SelectImpl : GenVSelectLayer { Layer* L = nullptr; };
struct FillImpl : GenVFillLayer {
  Layer* L = nullptr;
  double alpha = 0, beta = 0;
  void setDimensions(Dims const& d) noexcept override { RDD_SET("VFillLayer", "setDimensions", d); L->fillDims = d; L->param("dims", J(d)); }
  Dims getDimensions() const noexcept override { return L->fillDims; }
  void setAlpha(double a) noexcept override { RDD_SET("VFillLayer", "setAlpha", a); alpha = a; L->param("alpha", J(a)); }
  double getAlpha() const noexcept override { return alpha; }
  void setBeta(double b) noexcept override { RDD_SET("VFillLayer", "setBeta", b); beta = b; L->param("beta", J(b)); }
  double getBeta() const noexcept override { return beta; }
#ifdef RDD_HAS_VFillLayer_setAlphaInt64
  void setAlphaInt64(int64_t a) noexcept override { RDD_SET("VFillLayer", "setAlphaInt64", a); alpha = static_cast<double>(a); L->param("alpha", J(a)); }
  void setBetaInt64(int64_t b) noexcept override { RDD_SET("VFillLayer", "setBetaInt64", b); beta = static_cast<double>(b); L->param("beta", J(b)); }
#endif
};
#ifdef RDD_HAS_VNetworkDefinition_addCumulative
struct CumulativeImpl : GenVCumulativeLayer { Layer* L = nullptr; };
#endif
struct CastImpl : GenVCastLayer { Layer* L = nullptr; };
struct ScatterImpl : GenVScatterLayer {
  Layer* L = nullptr;
  void setAxis(int32_t a) noexcept override { RDD_SET("VScatterLayer", "setAxis", a); L->axis = a; L->param("axis", J(a)); }
  int32_t getAxis() const noexcept override { return L->axis; }
};
struct NonZeroImpl : GenVNonZeroLayer { Layer* L = nullptr; };
struct IdentityImpl : GenVIdentityLayer { Layer* L = nullptr; };

/** A setter TensorRT refuses by returning false: the reason is logged as an error. */
bool refuse(Layer* L, const std::string& why);
void setLayerInput(Layer& l, int32_t i, ITensor& t);

#ifdef RDD_HAS_VNetworkDefinition_addAttention
// IAttention (10.14+) is a helper, not an ILayer: its setters return false when refused.
struct AttentionImpl : GenVAttention {
  Layer* L = nullptr;
  bool setInput(int32_t i, ITensor& t) noexcept override {
    RDD_SET("VAttention", "setInput", i, t);
    // NvInfer.h: inputs 0, 1, 2 are query, key and value (the mask is set with setMask).
    if (i < 0 || i > 2) return refuse(L, "setInput index " + std::to_string(i) + " is not 0 (query), 1 (key) or 2 (value)");
    L->inputs[i] = T(t);
    if (std::find(L->setInputs.begin(), L->setInputs.end(), i) == L->setInputs.end()) L->setInputs.push_back(i);
    return true;
  }
  int32_t getNbInputs() const noexcept override { return 3; }
  ITensor* getInput(int32_t i) const noexcept override { return i >= 0 && i < 3 ? L->in(i) : nullptr; }
  int32_t getNbOutputs() const noexcept override { return 1; }
  ITensor* getOutput(int32_t i) const noexcept override;
  bool setName(char const* name) noexcept override {
    RDD_REC("VAttention", "setName", name);
    L->name = name ? name : "";
    return true;
  }
  char const* getName() const noexcept override { return L->name.c_str(); }
  bool setNormalizationOperation(AttentionNormalizationOp op) noexcept override {
    RDD_SET("VAttention", "setNormalizationOperation", op);
    L->op = static_cast<int>(op);
    L->param("normOp", J(op));
    return true;
  }
  AttentionNormalizationOp getNormalizationOperation() const noexcept override { return static_cast<AttentionNormalizationOp>(L->op); }
  bool setCausal(bool c) noexcept override {
    RDD_SET("VAttention", "setCausal", c);
    if (c && L->in(3)) return refuse(L, "setCausal cannot be used together with setMask (NvInfer.h)");
    L->causal = c;
    L->op1 = c ? 1 : 0;
    L->param(L->method == "addAttentionV2" ? "causalKind" : "causal", L->method == "addAttentionV2" ? J(L->op1) : J(c));
    return true;
  }
  bool getCausal() const noexcept override { return L->op1 != 0; }
  bool setMask(ITensor& m) noexcept override {
    RDD_SET("VAttention", "setMask", m);
    Tensor* t = T(m);
    Tensor* q = L->in(0);
    // NvInfer.h: "a tensor of type kBOOL or the same data type of BMM1 output", 4-D, broadcastable
    // to [batchSize, numHeadsQuery, sequenceLengthQuery, sequenceLengthKeyValue]; not with a causal kind.
    if (L->op1 != 0) return refuse(L, "setMask cannot be used together with a causal mask (" + std::string(L->method == "addAttentionV2" ? "CausalMaskKind " + std::to_string(L->op1) : "isCausal") + ")");
    if (t->type != DataType::kBOOL && (!q || t->type != q->type)) return refuse(L, "the mask is " + dtName(t->type) + "; it must be kBOOL or the BMM1 output type (" + (q ? dtName(q->type) : "?") + ")");
    if (t->dims.nbDims != 4) return refuse(L, "the mask has rank " + std::to_string(t->dims.nbDims) + "; it must be 4-D [batchSize, numHeadsQuery, sequenceLengthQuery, sequenceLengthKeyValue]");
    if (L->inputs.size() < 4) L->inputs.resize(4, nullptr);
    L->inputs[3] = t;
    return true;
  }
  ITensor* getMask() const noexcept override { return L->in(3); }
  bool setDecomposable(bool d) noexcept override {
    RDD_SET("VAttention", "setDecomposable", d);
    L->decomposable = d;
    L->param("decomposable", J(d));
    return true;
  }
  bool getDecomposable() const noexcept override { return L->decomposable; }
#ifdef RDD_HAS_VAttention_setCausalKind
  bool setCausalKind(CausalMaskKind k) noexcept override {
    RDD_SET("VAttention", "setCausalKind", k);
    int v = static_cast<int>(k);
    if (v < 0 || v > 2) return refuse(L, "CausalMaskKind " + std::to_string(v) + " is not defined");
    if (v != 0 && L->in(3)) return refuse(L, "a causal mask kind cannot be used together with setMask (NvInfer.h)");
    L->op1 = v;
    L->causal = v != 0;
    L->param("causalKind", J(k));
    return true;
  }
  CausalMaskKind getCausalKind() const noexcept override { return static_cast<CausalMaskKind>(L->op1); }
#endif
};
struct AttentionFace final : IAttention, FaceBase {
  AttentionImpl impl;
  AttentionFace(Layer* L, Rec* rec) {
    impl.L = L;
    impl.rddRec = rec;
    impl.rddId = L->id;
    mImpl = &impl;
  }
};
#endif
#ifdef RDD_HAS_VNetworkDefinition_addRotaryEmbedding
struct RotaryImpl : GenVRotaryEmbeddingLayer {
  Layer* L = nullptr;
  void setInterleaved(bool b) noexcept override { RDD_SET("VRotaryEmbeddingLayer", "setInterleaved", b); L->interleaved = b; L->param("interleaved", J(b)); }
  bool getInterleaved() const noexcept override { return L->interleaved; }
  bool setRotaryEmbeddingDim(int32_t d) noexcept override {
    RDD_SET("VRotaryEmbeddingLayer", "setRotaryEmbeddingDim", d);
    // NvInfer.h: "Must be non-negative and even."
    if (d < 0 || d % 2 != 0) return refuse(L, "rotaryEmbeddingDim " + std::to_string(d) + " must be non-negative and even");
    L->rotaryDim = d;
    L->param("rotaryEmbeddingDim", J(d));
    return true;
  }
  int32_t getRotaryEmbeddingDim() const noexcept override { return L->rotaryDim; }
#ifdef RDD_HAS_VRotaryEmbeddingLayer_setInput
  void setInput(int32_t i, ITensor& t) noexcept override {
    RDD_REC("VRotaryEmbeddingLayer", "setInput", i, t);
    setLayerInput(*L, i, t);
  }
#endif
};
#endif
#ifdef RDD_HAS_VNetworkDefinition_addKVCacheUpdate
struct KVCacheUpdateImpl : GenVKVCacheUpdateLayer {
  Layer* L = nullptr;
  bool setCacheMode(KVCacheMode m) noexcept override {
    RDD_SET("VKVCacheUpdateLayer", "setCacheMode", m);
    if (static_cast<int>(m) != 0) return refuse(L, "KVCacheMode " + std::to_string(static_cast<int>(m)) + ": only kLINEAR is supported");
    L->op = 0;
    L->param("cacheMode", J(m));
    return true;
  }
  KVCacheMode getCacheMode() const noexcept override { return static_cast<KVCacheMode>(L->op); }
};
#endif
// IQuantizeLayer / IDequantizeLayer: the axis, the output type and (10.16+) the block shape.
template <class G>
struct QDQImpl : G {
  Layer* L = nullptr;
  const char* iface() const { return L->type == LayerType::kQUANTIZE ? "VQuantizeLayer" : "VDequantizeLayer"; }
  int32_t getAxis() const noexcept override { return L->axis; }
  void setAxis(int32_t a) noexcept override {
    call(this->rddRec, iface(), this->rddId, "setAxis", args(a), false);
    L->dirty = true;
    L->axis = a;
    L->param("axis", J(a));
  }
  DataType getToType() const noexcept override { return L->toType; }
  void setToType(DataType t) noexcept override {
    call(this->rddRec, iface(), this->rddId, "setToType", args(t), false);
    L->dirty = true;
    L->toType = t;
    L->param("toType", J(t));
  }
#ifdef RDD_HAS_VQuantizeLayer_setBlockShape
  Dims getBlockShape() const noexcept override { return L->blockShape; }
  bool setBlockShape(Dims const& d) noexcept override {
    call(this->rddRec, iface(), this->rddId, "setBlockShape", args(d), false);
    // NvInfer.h: "Allowed values are positive values and -1 which denotes a fully blocked dimension."
    for (int i = 0; i < d.nbDims; i++)
      if (d.d[i] == 0 || d.d[i] < -1) return refuse(L, "block shape " + jdims(d) + ": dims must be positive or -1");
    L->dirty = true;
    L->blockShape = d;
    L->param("blockShape", J(d));
    return true;
  }
#endif
};
using QuantizeImpl = QDQImpl<GenVQuantizeLayer>;
using DequantizeImpl = QDQImpl<GenVDequantizeLayer>;
#ifdef RDD_HAS_VNetworkDefinition_addDistCollective
struct DistCollectiveImpl : GenVDistCollectiveLayer { Layer* L = nullptr; };
#endif

void LayerCore::setInput(int32_t i, ITensor& t) noexcept {
  call(rddRec, "VLayer", rddId, "setInput", args(i, t), false);
  setLayerInput(*L, i, t);
}
void setLayerInput(Layer& l, int32_t i, ITensor& t) {
  // The input indices each layer accepts (NvInfer.h, setInput of each layer).
  int maxIndex = 0;
  switch (l.type) {
    case LayerType::kSHUFFLE: maxIndex = 1; break;
    case LayerType::kSLICE: maxIndex = 5; break;  // start, size, stride, fill value, axes
    case LayerType::kFILL: maxIndex = 2; break;   // dims, alpha, beta
#ifdef RDD_HAS_VNetworkDefinition_addRotaryEmbedding
    case LayerType::kROTARY_EMBEDDING: maxIndex = 3; break;  // input, cos, sin, position ids
#endif
    default: maxIndex = static_cast<int>(l.inputs.size()) - 1; break;
  }
  if (i < 0 || i > maxIndex) return l.net->error(l.where() + ": setInput index " + std::to_string(i) + " is out of range");
  if (l.type == LayerType::kSLICE && i == 4) {
    // The fill value: a scalar of the input's dtype, only with SampleMode::kFILL.
    Tensor* x = l.in(0);
    if (T(t)->dims.nbDims != 0) l.net->error(l.where() + ": the fill value (input 4) must be a 0-D tensor");
    if (x && T(t)->type != x->type) l.net->error(l.where() + ": the fill value (input 4) must have the input's type");
  }
  if (static_cast<size_t>(i) >= l.inputs.size()) l.inputs.resize(i + 1, nullptr);
  l.inputs[i] = T(t);
  l.dirty = true;
  if (std::find(l.setInputs.begin(), l.setInputs.end(), i) == l.setInputs.end()) l.setInputs.push_back(i);
}

// ---- output dtypes and dimensions ----------------------------------------------------------

/** Values of small int shape tensors, as TensorRT's constant folding would know them. */
void propagateValues(Layer& L) {
  Tensor& o = *L.outputs[0];
  o.hasVals = false;
  o.vals.clear();
  bool isInt = o.type == DataType::kINT32 || o.type == DataType::kINT64;
  int64_t n = volume(o.dims);
  if (!isInt || n < 0 || n > 64 || o.dims.nbDims > 1) return;
  auto known = [](Tensor* t) { return t && t->hasVals; };
  std::vector<int64_t> v;
  switch (L.type) {
    case LayerType::kCONSTANT:
      for (int64_t i = 0; i < n; i++) {
        if (L.weightsType == DataType::kINT32) { int32_t x; std::memcpy(&x, L.weights.data() + 4 * i, 4); v.push_back(x); }
        else { int64_t x; std::memcpy(&x, L.weights.data() + 8 * i, 8); v.push_back(x); }
      }
      break;
    case LayerType::kSHAPE: {
      Dims d = L.in(0)->dims;
      for (int i = 0; i < d.nbDims; i++) v.push_back(d.d[i] < 0 ? kUnknown : d.d[i]);
      break;
    }
    case LayerType::kCAST: case LayerType::kIDENTITY:
      if (!known(L.in(0))) return;
      v = L.in(0)->vals;
      break;
    case LayerType::kSHUFFLE:
      if (!known(L.in(0)) || L.first.order[0] != 0 || L.second.order[0] != 0) return;
      v = L.in(0)->vals;
      break;
    case LayerType::kCONCATENATION:
      for (Tensor* t : L.inputs) {
        if (!known(t)) return;
        v.insert(v.end(), t->vals.begin(), t->vals.end());
      }
      break;
    case LayerType::kGATHER: {
      Tensor *d = L.in(0), *idx = L.in(1);
      if (!known(d) || !known(idx) || static_cast<GatherMode>(L.op) != GatherMode::kDEFAULT || L.axis != 0 || d->dims.nbDims != 1) return;
      for (int64_t i : idx->vals) {
        if (i == kUnknown) { v.push_back(kUnknown); continue; }
        int64_t k = i < 0 ? i + static_cast<int64_t>(d->vals.size()) : i;
        if (k < 0 || k >= static_cast<int64_t>(d->vals.size())) return;
        v.push_back(d->vals[k]);
      }
      break;
    }
    case LayerType::kSLICE: {
      Tensor* d = L.in(0);
      if (!known(d) || L.in(1) || L.in(2) || L.in(3) || d->dims.nbDims != 1 || static_cast<SampleMode>(L.op) != SampleMode::kSTRICT_BOUNDS) return;
      for (int64_t i = 0; i < L.size.d[0]; i++) {
        int64_t k = L.start.d[0] + i * L.stride.d[0];
        if (k < 0 || k >= static_cast<int64_t>(d->vals.size())) return;
        v.push_back(d->vals[k]);
      }
      break;
    }
    case LayerType::kELEMENTWISE: {
      Tensor *a = L.in(0), *b = L.in(1);
      if (!known(a) || !known(b)) return;
      for (int64_t i = 0; i < n; i++) {
        int64_t x = a->vals[a->vals.size() == 1 ? 0 : i], y = b->vals[b->vals.size() == 1 ? 0 : i];
        if (x == kUnknown || y == kUnknown) { v.push_back(kUnknown); continue; }
        switch (static_cast<ElementWiseOperation>(L.op)) {
          case ElementWiseOperation::kSUM: v.push_back(x + y); break;
          case ElementWiseOperation::kSUB: v.push_back(x - y); break;
          case ElementWiseOperation::kPROD: v.push_back(x * y); break;
          case ElementWiseOperation::kMAX: v.push_back(std::max(x, y)); break;
          case ElementWiseOperation::kMIN: v.push_back(std::min(x, y)); break;
          case ElementWiseOperation::kDIV: case ElementWiseOperation::kFLOOR_DIV:
            if (y == 0) return;
            v.push_back(x / y - ((x % y != 0) && ((x < 0) != (y < 0)) ? 1 : 0));
            break;
          default: return;
        }
      }
      break;
    }
    default: return;
  }
  if (static_cast<int64_t>(v.size()) != n) return;
  o.vals = std::move(v);
  o.hasVals = true;
}

/** Whether every path into `t` starts at a constant (TensorRT's "rooted at an IConstantLayer", i.e. weights). */
bool rootedAtConstants(Tensor* t, std::set<Tensor*>& seen) {
  if (!t || !seen.insert(t).second) return true;
  if (t->input) return false;
  if (!t->producer) return true;
  for (Tensor* x : t->producer->inputs)
    if (x && !rootedAtConstants(x, seen)) return false;
  return true;
}
float halfToFloat(uint16_t h) {
  int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
  float v = e == 0 ? std::ldexp(static_cast<float>(m), -24) : e == 31 ? (m ? NAN : INFINITY) : std::ldexp(static_cast<float>(m + 1024), e - 25);
  return s ? -v : v;
}
/** The scale's values when it is a constant (or a cast of one): empty when not known at build time. */
std::vector<double> constantValues(Tensor* s) {
  std::vector<double> v;
  Layer* p = s ? s->producer : nullptr;
  if (p && p->type == LayerType::kCAST) p = p->in(0) ? p->in(0)->producer : nullptr;
  if (!p || p->type != LayerType::kCONSTANT) return v;
  size_t n = p->weights.size() / std::max<size_t>(1, elemSize(p->weightsType));
  for (size_t i = 0; i < n; i++) {
    const uint8_t* b = p->weights.data() + i * elemSize(p->weightsType);
    switch (p->weightsType) {
      case DataType::kFLOAT: { float f; std::memcpy(&f, b, 4); v.push_back(f); break; }
      case DataType::kHALF: { uint16_t h; std::memcpy(&h, b, 2); v.push_back(halfToFloat(h)); break; }
      case DataType::kBF16: { uint32_t x = static_cast<uint32_t>(b[0] | b[1] << 8) << 16; float f; std::memcpy(&f, &x, 4); v.push_back(f); break; }
      default: return {};
    }
  }
  return v;
}
bool builtFromConstant(Tensor* s) {
  Layer* p = s ? s->producer : nullptr;
  if (p && p->type == LayerType::kCAST) p = p->in(0) ? p->in(0)->producer : nullptr;
  return p && p->type == LayerType::kCONSTANT;
}

/** IQuantizeLayer / IDequantizeLayer constraints, as each header set's NvInfer.h documents them. */
std::string qdqCheck(Layer& L) {
  bool quant = L.type == LayerType::kQUANTIZE;
  Tensor *x = L.in(0), *s = L.in(1);
  DataType qt = quant ? L.toType : x->type, ft = quant ? x->type : L.toType;
  bool fp4 = static_cast<int>(qt) == 10;
  if (quant && !isFloat(x->type)) return "the input is " + dtName(x->type) + "; it must be kFLOAT, kHALF or kBF16";
  if (!quant && !isFloat(L.toType)) return "the output type is " + dtName(L.toType) + "; it must be kFLOAT, kHALF or kBF16";
  if (!isQuantized(qt) || (fp4 && !RDD_AT_LEAST(10, 16)))
    return std::string(quant ? "the output type is " : "the input is ") + dtName(qt) + "; it must be kINT8, kFP8 or kINT4" + (RDD_AT_LEAST(10, 16) ? " (or kFP4)" : "");
  if (x->dims.nbDims < 1) return "the input must not be a scalar";
  if (!isFloat(s->type)) return "the scale is " + dtName(s->type) + "; it must be kFLOAT, kHALF or kBF16";
#if RDD_AT_LEAST(10, 16)
  if (quant && s->type != DataType::kFLOAT && s->type != x->type) return "a kHALF or kBF16 scale must have the input's type (" + dtName(x->type) + ") in a strongly typed network";
#else
  if (quant && s->type != x->type) return "the scale (" + dtName(s->type) + ") must have the input's type (" + dtName(x->type) + ") in a strongly typed network";
  if (!quant && s->type != ft) return "the output type (" + dtName(ft) + ") must be the scale's type (" + dtName(s->type) + ") in a strongly typed network";
  if (!builtFromConstant(s)) return "the scale must be a build-time constant (Constant or Constant -> Cast)";
#endif
  Dims xd = x->dims, sd = s->dims;
  int r = xd.nbDims;
  std::set<Tensor*> seen;
  bool weights = rootedAtConstants(x, seen);
  if (sd.nbDims == 0) {
    // per tensor
  } else if (sd.nbDims == 1 && !(r == 1 && L.axis < 0)) {
    // setAxis follows the add: an unset axis is an error only when the network is built.
    bool axisPending = L.axis < 0 && !L.net->building;
    if (!axisPending && (L.axis < 0 || L.axis >= r)) return "per-channel scale: the axis " + std::to_string(L.axis) + " is outside the input's rank " + std::to_string(r);
    if (!axisPending && sd.d[0] >= 0 && xd.d[L.axis] >= 0 && sd.d[0] != xd.d[L.axis]) return "per-channel scale of " + std::to_string(sd.d[0]) + " coefficients; the quantization axis " + std::to_string(L.axis) + " has " + std::to_string(xd.d[L.axis]);
    if (!weights) return std::string("per-channel ") + (quant ? "quantization" : "dequantization") + " is supported only for weights (an input rooted at an IConstantLayer), not activations";
  } else if (sd.nbDims == r) {
    int blocked = -1;
    for (int i = 0; i < r; i++) {
      if (sd.d[i] < 0 || xd.d[i] < 0 || sd.d[i] == xd.d[i]) continue;
      if (blocked >= 0) return "block scale " + jdims(sd) + " differs from the input " + jdims(xd) + " in more than one dimension";
      blocked = i;
    }
    if (blocked >= 0 && (sd.d[blocked] == 0 || xd.d[blocked] % sd.d[blocked] != 0)) return "block scale dim " + std::to_string(blocked) + " (" + std::to_string(sd.d[blocked]) + ") does not divide the input's " + std::to_string(xd.d[blocked]);
#if RDD_AT_LEAST(10, 16)
    if (static_cast<int>(qt) == 2) return "block quantization supports kINT4, kFP8 and kFP4, not kINT8";
#else
    if (static_cast<int>(qt) != 9) return "block quantization supports kINT4 only (TensorRT " + std::to_string(NV_TENSORRT_MAJOR) + "." + std::to_string(NV_TENSORRT_MINOR) + ")";
    if (!weights) return "block quantization is supported only for weights (an input rooted at an IConstantLayer)";
#endif
#if !RDD_AT_LEAST(10, 1)
    if (r != 2) return "block quantization is supported only for 2-D inputs (TensorRT 10.0)";
#else
    if (blocked >= 0 && blocked < r - 2) return "the blocking dimension " + std::to_string(blocked) + " must be the last or second to last";
#endif
  } else {
    return "the scale has rank " + std::to_string(sd.nbDims) + "; it must be a scalar (per tensor), 1-D (per channel) or of the input's rank " + std::to_string(r) + " (block-wise)";
  }
  for (double v : constantValues(s))
    if (!(v > 0)) return "scale coefficients must be strictly positive (found " + jnum(v) + ")";
  (void)ft;
  return "";
}

/** Sets the layer's outputs (dtype, dims); returns an error message when TensorRT would reject it. */
std::string inferImpl(Layer& L) {
  auto out = [&](size_t i, DataType t, Dims d) {
    L.outputs[i]->type = t;
    L.outputs[i]->dims = d;
  };
  for (size_t nOut = L.type == LayerType::kTOPK ? 2 : 1; L.outputs.size() < nOut;) {
    {
      auto x = std::make_unique<Tensor>();
      x->net = L.net;
      x->id = nextId();
      x->impl.rddRec = L.net->rec;
      x->impl.rddId = x->id;
      x->producer = &L;
      L.outputs.push_back(std::move(x));
    }
  }
  for (size_t i = 0; i < L.inputs.size(); i++)
    if (!L.inputs[i] && !(L.type == LayerType::kSLICE || L.type == LayerType::kFILL)) return "input " + std::to_string(i) + " is null";
  Tensor* x = L.in(0);
  for (Tensor* t : L.inputs)  // producers changed by setters since (memoized: only dirty ones recompute)
    if (t && t->producer && t->producer != &L) infer(*t->producer);
  Dims xd = x ? x->dims : Dims{};
  switch (L.type) {
    case LayerType::kCONSTANT: {
      out(0, L.weightsType, L.fillDims);
      break;
    }
    case LayerType::kSHAPE: out(0, DataType::kINT64, mk({xd.nbDims})); break;
    case LayerType::kSHUFFLE: {
      Dims d = xd;
      auto perm = [&](const Permutation& p, Dims a) {
        Dims r = a;
        for (int i = 0; i < a.nbDims; i++) r.d[i] = a.d[p.order[i]];
        return r;
      };
      d = perm(L.first, d);
      if (L.in(1) || L.hasReshape) {
        Dims r = L.reshape;
        if (L.in(1)) {
          Tensor* s = L.in(1);
          if (s->dims.nbDims != 1 || s->dims.d[0] < 0) return "the reshape dimensions (input 1) must be a 1-D shape tensor of static length";
          if (s->type != DataType::kINT32 && s->type != DataType::kINT64) return "the reshape dimensions (input 1) must be int32 or int64";
          r.nbDims = static_cast<int32_t>(s->dims.d[0]);
          for (int i = 0; i < r.nbDims; i++) r.d[i] = s->hasVals && static_cast<int>(s->vals.size()) == r.nbDims && s->vals[i] != kUnknown ? s->vals[i] : -2;
        }
        int inferAt = -1;
        int64_t known = 1;
        for (int i = 0; i < r.nbDims; i++) {
          if (r.d[i] == 0 && L.zeroIsPh) {
            if (i >= d.nbDims) return "reshape placeholder 0 at dim " + std::to_string(i) + " beyond the input's rank";
            r.d[i] = d.d[i] < 0 ? -2 : d.d[i];  // a copied unknown dim is not the one to infer
          }
          if (r.d[i] == -1) {
            if (inferAt >= 0) return "more than one -1 in the reshape dimensions";
            inferAt = i;
          } else if (r.d[i] < 0) known = -1;
          else if (known >= 0) known *= r.d[i];
        }
        int64_t v = volume(d);
        if (inferAt >= 0) r.d[inferAt] = v >= 0 && known > 0 ? v / known : -1;
        else if (v >= 0 && known >= 0 && v != known) return "reshape of " + jdims(d) + " into " + jdims(r) + " changes the volume";
        for (int i = 0; i < r.nbDims; i++)
          if (r.d[i] < 0) r.d[i] = -1;
        d = r;
      }
      for (int i = 0; i < d.nbDims; i++)
        if (L.second.order[i] < 0 || L.second.order[i] >= d.nbDims) return "second transpose is not a permutation of rank " + std::to_string(d.nbDims);
      d = perm(L.second, d);
      out(0, x->type, d);
      break;
    }
    case LayerType::kCONCATENATION: {
      Dims d = xd;
      int a = L.axis;
      if (a < 0 || a >= d.nbDims) return "concatenation axis " + std::to_string(a) + " is outside [0, " + std::to_string(d.nbDims) + ")";
      int64_t sum = 0;
      for (Tensor* t : L.inputs) {
        if (t->dims.nbDims != d.nbDims) return "inputs of different ranks";
        if (t->type != x->type) return "inputs of different types";
        sum = t->dims.d[a] < 0 || sum < 0 ? -1 : sum + t->dims.d[a];
      }
      d.d[a] = sum;
      out(0, x->type, d);
      break;
    }
    case LayerType::kGATHER: {
      Tensor* idx = L.in(1);
      if (idx->type != DataType::kINT32 && idx->type != DataType::kINT64) return "indices must be int32 or int64";
      Dims id = idx->dims, d{};
      auto mode = static_cast<GatherMode>(L.op);
      if (mode == GatherMode::kDEFAULT) {
        if (L.axis < 0 || L.axis >= xd.nbDims) return "gather axis " + std::to_string(L.axis) + " is outside the data's rank";
        std::vector<int64_t> v(xd.d, xd.d + L.axis);
        for (int i = L.nbEW; i < id.nbDims; i++) v.push_back(id.d[i]);
        for (int i = L.axis + 1; i < xd.nbDims; i++) v.push_back(xd.d[i]);
        d = mk(v);
      } else if (mode == GatherMode::kELEMENT) {
        if (L.axis < 0 || L.axis >= xd.nbDims) return "gather axis " + std::to_string(L.axis) + " is outside the data's rank";
        if (id.nbDims != xd.nbDims) return "kELEMENT: indices must have the data's rank";
        d = id;
      } else {
        int b = L.nbEW;
        if (id.nbDims < 1 || id.d[id.nbDims - 1] < 0) return "kND: the last dim of the indices must be static";
        int64_t q = id.d[id.nbDims - 1];
        if (b + q > xd.nbDims) return "kND: nbElementWiseDims + indices' last dim exceeds the data's rank";
        std::vector<int64_t> v(id.d, id.d + id.nbDims - 1);
        for (int i = static_cast<int>(b + q); i < xd.nbDims; i++) v.push_back(xd.d[i]);
        d = mk(v);
      }
      out(0, x->type, d);
      break;
    }
    case LayerType::kSLICE: {
      Dims d = L.size;
      if (L.in(2)) {
        Tensor* s = L.in(2);
        if (s->dims.nbDims != 1 || s->dims.d[0] != xd.nbDims) return "the size (input 2) must be a 1-D shape tensor of the input's rank";
        d.nbDims = xd.nbDims;
        // Sizes TensorRT folds at build time (constants, static dims of shapes) stay static.
        for (int i = 0; i < d.nbDims; i++) d.d[i] = s->hasVals && static_cast<int>(s->vals.size()) == d.nbDims && s->vals[i] != kUnknown && s->vals[i] >= 0 ? s->vals[i] : -1;
      } else if (d.nbDims != xd.nbDims) return "size has rank " + std::to_string(d.nbDims) + ", the input " + std::to_string(xd.nbDims);
      for (int k : {1, 3})
        if (L.in(k) && (L.in(k)->dims.nbDims != 1 || L.in(k)->dims.d[0] != xd.nbDims)) return "input " + std::to_string(k) + " must be a 1-D shape tensor of the input's rank";
      if (!L.in(1) && L.start.nbDims != xd.nbDims) return "start has rank " + std::to_string(L.start.nbDims) + ", the input " + std::to_string(xd.nbDims);
      if (!L.in(3) && L.stride.nbDims != xd.nbDims) return "stride has rank " + std::to_string(L.stride.nbDims) + ", the input " + std::to_string(xd.nbDims);
      auto m = static_cast<SampleMode>(L.op);
      // Operator reference (ISliceLayer): CLAMP, FILL and REFLECT modes do not support int64 or bfloat16.
      if ((m == SampleMode::kCLAMP || m == SampleMode::kFILL) && (x->type == DataType::kINT64 || x->type == DataType::kBF16))
        return std::string(m == SampleMode::kFILL ? "kFILL" : "kCLAMP") + " mode does not support int64 or bfloat16 inputs";
      if (L.in(4) && m != SampleMode::kFILL) return "a fill value (input 4) is only used with SampleMode::kFILL";
      out(0, x->type, d);
      break;
    }
    case LayerType::kELEMENTWISE: {
      Tensor* y = L.in(1);
      if (x->type != y->type) return "operands of different types in a strongly typed network";
      if (xd.nbDims != y->dims.nbDims) return "operands of different ranks (" + std::to_string(xd.nbDims) + ", " + std::to_string(y->dims.nbDims) + ")";
      Dims d = xd;
      for (int i = 0; i < d.nbDims; i++) {
        int64_t a = xd.d[i], b = y->dims.d[i];
        if (a >= 0 && b >= 0 && a != b && a != 1 && b != 1) return "operands do not broadcast at dim " + std::to_string(i);
        d.d[i] = a == 1 ? b : b == 1 ? a : a >= 0 ? a : b;
      }
      auto op = static_cast<ElementWiseOperation>(L.op);
      bool logical = op == ElementWiseOperation::kAND || op == ElementWiseOperation::kOR || op == ElementWiseOperation::kXOR;
      bool cmp = op == ElementWiseOperation::kEQUAL || op == ElementWiseOperation::kGREATER || op == ElementWiseOperation::kLESS;
      if (logical && x->type != DataType::kBOOL) return "kAND/kOR/kXOR need bool operands";
      if (!logical && x->type == DataType::kBOOL) return "this operation does not accept bool operands";
      if (op == ElementWiseOperation::kEQUAL && x->type == DataType::kBOOL) return "kEQUAL does not accept bool";
      out(0, cmp || logical ? DataType::kBOOL : x->type, d);
      break;
    }
    case LayerType::kUNARY: {
      auto op = static_cast<UnaryOperation>(L.op);
      DataType t = x->type;
      if (op == UnaryOperation::kNOT && t != DataType::kBOOL) return "kNOT needs a bool input";
      if (op != UnaryOperation::kNOT && t == DataType::kBOOL) return "bool input only for kNOT";
      if (op == UnaryOperation::kNEG && !(isFloat(t) || t == DataType::kINT8)) return "kNEG accepts float, half, bfloat16 or int8 (not int32/int64)";
      bool toBool = op == UnaryOperation::kISINF;
#if RDD_AT_LEAST(10, 1)
      toBool = toBool || op == UnaryOperation::kISNAN;
#endif
      out(0, toBool ? DataType::kBOOL : t, xd);
      break;
    }
    case LayerType::kACTIVATION:
      if (!isFloat(x->type) && x->type != DataType::kINT8) return "activation needs a float input";
      out(0, x->type, xd);
      break;
    case LayerType::kMATRIX_MULTIPLY: {
      Tensor* y = L.in(1);
      if (x->type != y->type) return "operands of different types";
      if (!isFloat(x->type)) return "matrix multiply needs float operands";
      Dims a = xd, b = y->dims;
      auto o0 = static_cast<MatrixOperation>(L.op), o1 = static_cast<MatrixOperation>(L.op1);
      int ra = o0 == MatrixOperation::kVECTOR ? a.nbDims - 1 : a.nbDims - 2;
      int rb = o1 == MatrixOperation::kVECTOR ? b.nbDims - 1 : b.nbDims - 2;
      if (ra < 0 || rb < 0 || ra != rb) return "operand ranks do not match";
      std::vector<int64_t> v;
      for (int i = 0; i < ra; i++) v.push_back(a.d[i] == 1 ? b.d[i] : a.d[i]);
      if (o0 != MatrixOperation::kVECTOR) v.push_back(o0 == MatrixOperation::kTRANSPOSE ? a.d[a.nbDims - 1] : a.d[a.nbDims - 2]);
      if (o1 != MatrixOperation::kVECTOR) v.push_back(o1 == MatrixOperation::kTRANSPOSE ? b.d[b.nbDims - 2] : b.d[b.nbDims - 1]);
      out(0, x->type, mk(v));
      break;
    }
    case LayerType::kSOFTMAX:
      if (!isFloat(x->type)) return "softmax needs a float input";
      if (__builtin_popcount(L.axes) != 1 || L.axes >= (1u << xd.nbDims)) return "softmax axes must name exactly one dim of the input";
      out(0, x->type, xd);
      break;
    case LayerType::kTOPK: {
      Dims d = xd;
      int ax = __builtin_ctz(L.axes ? L.axes : 1);
      d.d[ax] = L.k;
      out(0, x->type, d);
      out(1, L.indexType, d);
      break;
    }
    case LayerType::kREDUCE: {
      if (x->type == DataType::kBOOL) return "reduce does not accept bool";
      std::vector<int64_t> v;
      for (int i = 0; i < xd.nbDims; i++) {
        if (L.axes & (1u << i)) { if (L.keep) v.push_back(1); }
        else v.push_back(xd.d[i]);
      }
      if (L.axes >= (1u << xd.nbDims)) return "reduce axes outside the input's rank";
      out(0, x->type, mk(v));
      break;
    }
    case LayerType::kSELECT: {
      Tensor *a = L.in(1), *b = L.in(2);
      if (x->type != DataType::kBOOL) return "the condition must be bool";
      if (a->type != b->type) return "then/else of different types";
      if (a->type == DataType::kINT8) return "select does not accept int8";
      if (xd.nbDims != a->dims.nbDims || a->dims.nbDims != b->dims.nbDims) return "operands of different ranks";
      Dims d = a->dims;
      for (int i = 0; i < d.nbDims; i++) {
        int64_t m = 1;
        for (Tensor* t : {x, a, b}) { int64_t v = t->dims.d[i]; if (v < 0) { m = -1; break; } if (v != 1) m = v; }
        d.d[i] = m;
      }
      out(0, a->type, d);
      break;
    }
    case LayerType::kFILL: {
      Dims d = L.fillDims;
      if (L.in(0)) {
        Tensor* s = L.in(0);
        if (s->dims.nbDims != 1 || s->dims.d[0] < 0) return "the dimensions (input 0) must be a 1-D shape tensor of static length";
        d.nbDims = static_cast<int32_t>(s->dims.d[0]);
        for (int i = 0; i < d.nbDims; i++) d.d[i] = s->hasVals && s->vals[i] != kUnknown ? s->vals[i] : -1;
      }
      out(0, L.toType, d);
      break;
    }
#ifdef RDD_HAS_VNetworkDefinition_addCumulative
    case LayerType::kCUMULATIVE:
      if (x->type == DataType::kINT8 || x->type == DataType::kBOOL) return "cumulative does not accept int8 or bool";
      out(0, x->type, xd);
      break;
#endif
    case LayerType::kCAST: out(0, L.toType, xd); break;
    case LayerType::kSCATTER: {
      Tensor *idx = L.in(1), *upd = L.in(2);
      if (idx->type != DataType::kINT32 && idx->type != DataType::kINT64) return "indices must be int32 or int64";
      if (upd->type != x->type) return "updates must have the data's type";
      if (static_cast<ScatterMode>(L.op) == ScatterMode::kELEMENT && (L.axis < 0 || L.axis >= xd.nbDims)) return "scatter axis outside the data's rank";
      out(0, x->type, xd);
      break;
    }
    case LayerType::kNON_ZERO: out(0, L.indexType, mk({xd.nbDims, -1})); break;
    case LayerType::kIDENTITY: out(0, x->type, xd); break;
#ifdef RDD_HAS_VNetworkDefinition_addAttention
    case LayerType::kATTENTION_OUTPUT: {  // IAttention (NvInfer.h, class IAttention and addAttention*)
      Tensor *q = x, *k = L.in(1), *v = L.in(2), *m = L.in(3);
      for (Tensor* t : {q, k, v})
        if (!isFloat(t->type)) return "query, key and value must be kFLOAT, kHALF or kBF16 (got " + dtName(t->type) + ")";
      if (k->type != q->type || v->type != q->type) return "query, key and value have different types in a strongly typed network";
      for (Tensor* t : {q, k, v})
        if (t->dims.nbDims != 4) return "query, key and value must be 4-D [batchSize, numHeads, sequenceLength, dimHead] (got rank " + std::to_string(t->dims.nbDims) + ")";
      Dims qd = q->dims, kd = k->dims, vd = v->dims;
      auto clash = [](int64_t a, int64_t b) { return a >= 0 && b >= 0 && a != b; };
      if (clash(qd.d[0], kd.d[0]) || clash(qd.d[0], vd.d[0])) return "query, key and value have different batch sizes";
      if (clash(kd.d[1], vd.d[1]) || clash(kd.d[2], vd.d[2])) return "key " + jdims(kd) + " and value " + jdims(vd) + " differ in heads or sequence length";
      if (clash(qd.d[3], kd.d[3]) || clash(qd.d[3], vd.d[3])) return "query, key and value have different dimHead";
      if (qd.d[1] >= 0 && kd.d[1] >= 0 && (kd.d[1] == 0 || qd.d[1] % kd.d[1] != 0))
        return "numHeadsQuery " + std::to_string(qd.d[1]) + " is not a multiple of numHeadsKeyValue " + std::to_string(kd.d[1]) + " (grouped-query attention)";
      if (static_cast<int>(L.op) < 0 || L.op > 1) return "AttentionNormalizationOp " + std::to_string(L.op) + " is not defined";
      if (m) {
        if (L.op1 != 0) return "a mask cannot be used together with a causal mask";
        if (m->type != DataType::kBOOL && m->type != q->type) return "the mask must be kBOOL or the BMM1 output type";
        if (m->dims.nbDims != 4) return "the mask must be 4-D";
        int64_t want[4] = {qd.d[0], qd.d[1], qd.d[2], kd.d[2]};
        for (int i = 0; i < 4; i++) {
          int64_t d = m->dims.d[i];
          // Batch and query heads broadcast; the sequence dims are the scores'.
          if (d >= 0 && want[i] >= 0 && d != want[i] && !(i < 2 && d == 1))
            return "the mask " + jdims(m->dims) + " does not broadcast to [batchSize, numHeadsQuery, sequenceLengthQuery, sequenceLengthKeyValue] = " + jdims(mk({want[0], want[1], want[2], want[3]}));
        }
      }
      out(0, q->type, qd);  // "the same shape, form, and data type as the query input"
      break;
    }
#endif
#ifdef RDD_HAS_VNetworkDefinition_addRotaryEmbedding
    case LayerType::kROTARY_EMBEDDING: {  // NvInfer.h addRotaryEmbedding
      out(0, x->type, xd);  // set first: position ids arrive through setInput(3) after the add
      Tensor *c = L.in(1), *s = L.in(2), *pos = L.in(3);
      if (!isFloat(x->type)) return "the input must be kFLOAT, kHALF or kBF16";
      if (xd.nbDims != 4) return "the input must be (batchSize, numHeads, sequenceLength, headSize), got rank " + std::to_string(xd.nbDims);
      int64_t D = xd.d[3], R = L.rotaryDim ? L.rotaryDim : D;
      if (L.rotaryDim < 0 || L.rotaryDim % 2 != 0) return "rotaryEmbeddingDim must be non-negative and even";
      if (D >= 0 && (R > D || R % 2 != 0)) return "rotaryEmbeddingDim " + std::to_string(R) + " must be even and at most headSize " + std::to_string(D);
      if (c->dims.nbDims != s->dims.nbDims) return "cosCache and sinCache have different ranks";
      for (int i = 0; i < c->dims.nbDims; i++)
        if (c->dims.d[i] >= 0 && s->dims.d[i] >= 0 && c->dims.d[i] != s->dims.d[i]) return "cosCache and sinCache have different shapes";
      auto bad = [](int64_t a, int64_t b) { return a >= 0 && b >= 0 && a != b; };
      if (pos) {
        if (c->dims.nbDims != 2) return "with positionIds, cosCache/sinCache must be (maxPositionId+1, rotaryEmbeddingDim/2), got rank " + std::to_string(c->dims.nbDims);
        if (bad(c->dims.d[1], R >= 0 ? R / 2 : -1)) return "cosCache/sinCache's last dim must be rotaryEmbeddingDim/2 = " + std::to_string(R / 2);
        if (pos->dims.nbDims != 2 || bad(pos->dims.d[0], xd.d[0]) || bad(pos->dims.d[1], xd.d[2])) return "positionIds must be (batchSize, sequenceLength), got " + jdims(pos->dims);
      } else {
        if (c->dims.nbDims != 3) return "without positionIds, cosCache/sinCache must be (batchSize, sequenceLength, rotaryEmbeddingDim/2), got rank " + std::to_string(c->dims.nbDims);
        if (bad(c->dims.d[0], xd.d[0]) || bad(c->dims.d[1], xd.d[2]) || bad(c->dims.d[2], R >= 0 ? R / 2 : -1)) return "cosCache/sinCache " + jdims(c->dims) + " is not (batchSize, sequenceLength, rotaryEmbeddingDim/2)";
      }
      break;
    }
#endif
#ifdef RDD_HAS_VNetworkDefinition_addKVCacheUpdate
    case LayerType::kKVCACHE_UPDATE: {  // NvInfer.h addKVCacheUpdate
      Tensor *u = L.in(1), *w = L.in(2);
      if (!isFloat(x->type) || u->type != x->type) return "cache and update must have the same type, kFLOAT, kHALF or kBF16 (got " + dtName(x->type) + ", " + dtName(u->type) + ")";
      if (w->type != DataType::kINT32 && w->type != DataType::kINT64) return "writeIndices must be kINT32 or kINT64 (got " + dtName(w->type) + ")";
      if (xd.nbDims != 4 || u->dims.nbDims != 4) return "cache [batchSize, numHeads, maxSequenceLength, headSize] and update [batchSize, numHeads, sequenceLength, headSize] must be 4-D";
      auto bad = [](int64_t a, int64_t b) { return a >= 0 && b >= 0 && a != b; };
      Dims ud = u->dims;
      if (bad(xd.d[0], ud.d[0]) || bad(xd.d[1], ud.d[1]) || bad(xd.d[3], ud.d[3])) return "update " + jdims(ud) + " does not match cache " + jdims(xd) + " in batchSize, numHeads or headSize";
      if (xd.d[2] >= 0 && ud.d[2] >= 0 && ud.d[2] > xd.d[2]) return "update's sequenceLength exceeds the cache's maxSequenceLength";
      if (w->dims.nbDims != 1 || bad(w->dims.d[0], xd.d[0])) return "writeIndices must be [batchSize], got " + jdims(w->dims);
      if (L.op != 0) return "only KVCacheMode::kLINEAR is supported";
      out(0, x->type, xd);  // in place: the output is the cache
      break;
    }
#endif
    case LayerType::kQUANTIZE:
    case LayerType::kDEQUANTIZE: {
      std::string e = qdqCheck(L);
      if (!e.empty()) return e;
      out(0, L.toType, xd);
      break;
    }
#ifdef RDD_HAS_VNetworkDefinition_addDistCollective
    case LayerType::kDIST_COLLECTIVE: {  // NvInfer.h addDistCollective
      int op = L.op, red = L.op1;
      if (op < 0 || op > 7) return "CollectiveOperation " + std::to_string(op) + " is not defined";
      if (red < 0 || red > 5) return "ReduceOperation " + std::to_string(red) + " is not defined";
      bool reduces = op == 0 || op == 3 || op == 4, rooted = op == 2 || op == 3 || op == 6 || op == 7;
      if (reduces && red == 5) return "a reducing collective (kALL_REDUCE, kREDUCE, kREDUCE_SCATTER) needs a ReduceOperation other than kNONE";
      if (!reduces && red != 5) return "a collective without reduction takes ReduceOperation::kNONE";
      std::set<int64_t> seen;
      for (int64_t g : L.groups)
        if (g < 0 || !seen.insert(g).second) return "the group lists rank " + std::to_string(g) + (g < 0 ? " (negative)" : " twice");
      if (rooted && (L.root < 0 || (!L.groups.empty() && !seen.count(L.root)))) return "root " + std::to_string(L.root) + " is not a rank of the group";
      Dims d = xd;
      if (op == 1) {  // all-gather: the group's inputs concatenated along dim 0
        if (xd.nbDims < 1) return "all-gather needs an input of rank >= 1";
        d.d[0] = L.groups.empty() || xd.d[0] < 0 ? -1 : xd.d[0] * static_cast<int64_t>(L.groups.size());
      } else if (op != 0 && op != 2 && op != 3) return "the double models kALL_REDUCE, kALL_GATHER, kBROADCAST and kREDUCE only";
      out(0, x->type, d);
      break;
    }
#endif
    default: return "layer type not supported by the double";
  }
  propagateValues(L);
  for (auto& o : L.outputs) {
    if (o->dims.nbDims > Dims::MAX_DIMS) return "output rank " + std::to_string(o->dims.nbDims) + " exceeds 8";
#if NV_TENSORRT_MAJOR < 11
    int64_t v = volume(o->dims);
    if (v >= (int64_t(1) << 31)) return "output volume " + std::to_string(v) + " is not below 2^31 (TensorRT 10.x limit)";
#endif
  }
  return "";
}

void infer(Layer& L) {
  if (!L.dirty) return;
  std::string e = inferImpl(L);  // errors are reported at add* time and again at build time
  (void)e;
  L.dirty = false;
}

bool refuse(Layer* L, const std::string& why) {
  if (L->net->logger) L->net->logger->log(ILogger::Severity::kERROR, (L->where() + ": " + why).c_str());
  return false;
}
#ifdef RDD_HAS_VNetworkDefinition_addAttention
ITensor* AttentionImpl::getOutput(int32_t i) const noexcept {
  RDD_REC("VAttention", "getOutput", i);
  if (faulty("getoutput")) return nullptr;
  infer(*L);
  return i == 0 && !L->outputs.empty() ? L->outputs[0].get() : nullptr;
}
#endif

// ---- network ------------------------------------------------------------------------------

struct Network final : INetworkDefinition {
  struct Impl;
  std::unique_ptr<Impl> impl;
  Net net;
  explicit Network(Rec* rec, ILogger* logger, uint32_t flags);
  ~Network() override;
};

struct Network::Impl : GenVNetworkDefinition {
  Network* N = nullptr;
  Net& net() const { return N->net; }

  Layer* push(const char* method, LayerType type, std::vector<ITensor*> ins) {
    auto L = std::make_unique<Layer>();
    L->net = &net();
    L->id = nextId();
    L->method = method;
    L->type = type;
    for (ITensor* t : ins) L->inputs.push_back(T(t));
    Layer* raw = L.get();
    net().layers.push_back(std::move(L));
    return raw;
  }
  template <class Face, class LImpl>
  Layer* make(const char* method, LayerType type, std::vector<ITensor*> ins) {
    Layer* L = push(method, type, std::move(ins));
    auto* f = new FaceT<Face, LImpl>(L, net().rec);
    L->face.reset(f);
    L->iface = f;
    return L;
  }
  /** The layer's face after inference, or nullptr (and the layer dropped) when rejected. */
  template <class R>
  R* finish(Layer* L) {
    return accept(L) ? static_cast<R*>(L->iface) : nullptr;
  }
  bool accept(Layer* L) {
    std::string norm = L->method.substr(3);
    std::transform(norm.begin(), norm.end(), norm.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (norm.size() > 2 && norm.compare(norm.size() - 2, 2, "v2") == 0) norm = norm.substr(0, norm.size() - 2);
    std::string e = faulty(norm) ? "rejected by fault injection (REDRAFT_TRT_DOUBLE_FAIL)" : inferImpl(*L);
    // Layers whose shape inputs come later through setInput are checked when the network is built.
    bool later = L->type == LayerType::kSLICE || L->type == LayerType::kSHUFFLE || L->type == LayerType::kFILL;
#ifdef RDD_HAS_VNetworkDefinition_addRotaryEmbedding
    later = later || L->type == LayerType::kROTARY_EMBEDDING;  // position ids: setInput(3)
#endif
    if (!faulty(norm) && later) e.clear();
    L->dirty = false;
    if (!e.empty()) {
      if (net().logger) net().logger->log(ILogger::Severity::kERROR, (L->method + ": " + e).c_str());
      net().layers.pop_back();
      return false;
    }
    return true;
  }
  bool bad(const char* method, std::initializer_list<const ITensor*> ins) {
    for (const ITensor* t : ins)
      if (!t) {
        if (net().logger) net().logger->log(ILogger::Severity::kERROR, (std::string(method) + ": a null input tensor").c_str());
        return true;
      }
    return false;
  }

  ITensor* addInput(char const* name, DataType type, Dims const& d) noexcept override {
    RDD_REC("VNetworkDefinition", "addInput", name, type, d);
    if (faulty("input")) return nullptr;
    if (!name || !*name || d.nbDims < 0 || d.nbDims > Dims::MAX_DIMS) {
      if (net().logger) net().logger->log(ILogger::Severity::kERROR, ("addInput '" + std::string(name ? name : "") + "': rank " + std::to_string(d.nbDims) + " is outside [0, 8]").c_str());
      return nullptr;
    }
    for (auto& t : net().inputs)
      if (t->name == name) return nullptr;
    auto t = std::make_unique<Tensor>();
    t->net = &net();
    t->id = nextId();
    t->impl.rddRec = net().rec;
    t->impl.rddId = t->id;
    t->name = name;
    t->type = type;
    t->dims = d;
    t->input = true;
    net().inputs.push_back(std::move(t));
    return net().inputs.back().get();
  }
  void markOutput(ITensor& t) noexcept override {
    RDD_REC("VNetworkDefinition", "markOutput", t);
    Tensor* x = T(t);
    // A network input cannot also be a network output.
    if (x->input) return net().error("markOutput: tensor '" + x->name + "' is a network input; a network input cannot be marked as an output");
    if (x->output) return;
    x->output = true;
    net().outputs.push_back(x);
  }
  void unmarkOutput(ITensor& t) noexcept override {
    RDD_REC("VNetworkDefinition", "unmarkOutput", t);
    Tensor* x = T(t);
    x->output = false;
    net().outputs.erase(std::remove(net().outputs.begin(), net().outputs.end(), x), net().outputs.end());
  }
  // IAttention is not an ILayer: the network's layers are the others.
  int32_t getNbLayers() const noexcept override {
    int32_t n = 0;
    for (auto& L : net().layers) n += L->iface ? 1 : 0;
    return n;
  }
  ILayer* getLayer(int32_t i) const noexcept override {
    for (auto& L : net().layers)
      if (L->iface && i-- == 0) return L->iface;
    return nullptr;
  }
  int32_t getNbInputs() const noexcept override { return static_cast<int32_t>(net().inputs.size()); }
  ITensor* getInput(int32_t i) const noexcept override { return i >= 0 && i < getNbInputs() ? net().inputs[i].get() : nullptr; }
  int32_t getNbOutputs() const noexcept override { return static_cast<int32_t>(net().outputs.size()); }
  ITensor* getOutput(int32_t i) const noexcept override { return i >= 0 && i < getNbOutputs() ? net().outputs[i] : nullptr; }

  IConstantLayer* addConstant(Dims const& d, Weights w) noexcept override {
    RDD_REC("VNetworkDefinition", "addConstant", d, w);
    Layer* L = make<IConstantLayer, ConstantImpl>("addConstant", LayerType::kCONSTANT, {});
    int64_t v = volume(d);
    if (d.nbDims < 0 || d.nbDims > Dims::MAX_DIMS || v < 0 || w.count != v || (v > 0 && !w.values)) {
      if (net().logger) net().logger->log(ILogger::Severity::kERROR, ("addConstant: weights count " + std::to_string(w.count) + " does not match dims " + jdims(d)).c_str());
      net().layers.pop_back();
      return nullptr;
    }
    L->fillDims = d;
    L->weightsType = w.type;
    size_t bytes = weightBytes(w.type, w.count);  // kINT4: count is the element count, two per byte
    if (w.values) L->weights.assign(static_cast<const uint8_t*>(w.values), static_cast<const uint8_t*>(w.values) + bytes);
    L->param("dims", J(d));
    L->param("type", J(w.type));
    L->param("count", J(w.count));
    return finish<IConstantLayer>(L);
  }
  IShapeLayer* addShape(ITensor& x) noexcept override {
    RDD_REC("VNetworkDefinition", "addShape", x);
    return finish<IShapeLayer>(make<IShapeLayer, ShapeImpl>("addShape", LayerType::kSHAPE, {&x}));
  }
  IShuffleLayer* addShuffle(ITensor& x) noexcept override {
    RDD_REC("VNetworkDefinition", "addShuffle", x);
    Layer* L = make<IShuffleLayer, ShuffleImpl>("addShuffle", LayerType::kSHUFFLE, {&x});
    for (int i = 0; i < Dims::MAX_DIMS; i++) L->first.order[i] = L->second.order[i] = i;
    return finish<IShuffleLayer>(L);
  }
  IConcatenationLayer* addConcatenation(ITensor* const* ins, int32_t n) noexcept override {
    std::vector<ITensor*> v(ins, ins + (n > 0 ? n : 0));
    std::string a = "[";
    for (size_t i = 0; i < v.size(); i++) a += (i ? "," : "") + J(v[i]);
    call(rddRec, "VNetworkDefinition", rddId, "addConcatenation", "[" + a + "]," + std::to_string(n) + "]", false);
    for (ITensor* t : v)
      if (!t) return nullptr;
    if (n <= 0) return nullptr;
    Layer* L = make<IConcatenationLayer, ConcatImpl>("addConcatenation", LayerType::kCONCATENATION, v);
    // Default axis: the first non-batch dim of rank >= 3 inputs (NvInfer.h), 0 otherwise.
    L->axis = T(v[0])->dims.nbDims >= 3 ? T(v[0])->dims.nbDims - 3 : 0;
    return finish<IConcatenationLayer>(L);
  }
  IGatherLayer* addGatherV2(ITensor& data, ITensor& idx, GatherMode mode) noexcept override {
    RDD_REC("VNetworkDefinition", "addGatherV2", data, idx, mode);
    int m = static_cast<int>(mode);
    if (m < 0 || m > 2) return nullptr;
    Layer* L = make<IGatherLayer, GatherImpl>("addGatherV2", LayerType::kGATHER, {&data, &idx});
    L->op = m;
    L->nbEW = mode == GatherMode::kND ? 0 : 0;
    L->param("mode", J(mode));
    return finish<IGatherLayer>(L);
  }
  IGatherLayer* addGather(ITensor& data, ITensor& idx, int32_t axis) noexcept override {
    RDD_REC("VNetworkDefinition", "addGather", data, idx, axis);
    Layer* L = make<IGatherLayer, GatherImpl>("addGather", LayerType::kGATHER, {&data, &idx});
    L->axis = axis;
    L->param("axis", J(axis));
    return finish<IGatherLayer>(L);
  }
  ISliceLayer* addSlice(ITensor& x, Dims const& start, Dims const& size, Dims const& stride) noexcept override {
    RDD_REC("VNetworkDefinition", "addSlice", x, start, size, stride);
    Layer* L = make<ISliceLayer, SliceImpl>("addSlice", LayerType::kSLICE, {&x});
    L->start = start;
    L->size = size;
    L->stride = stride;
    L->param("start", J(start));
    L->param("size", J(size));
    L->param("stride", J(stride));
    L->param("mode", "0");
    return finish<ISliceLayer>(L);
  }
  IElementWiseLayer* addElementWise(ITensor& a, ITensor& b, ElementWiseOperation op) noexcept override {
    RDD_REC("VNetworkDefinition", "addElementWise", a, b, op);
    if (static_cast<int>(op) < 0 || static_cast<int>(op) > 13) return nullptr;
    Layer* L = make<IElementWiseLayer, ElementWiseImpl>("addElementWise", LayerType::kELEMENTWISE, {&a, &b});
    L->op = static_cast<int>(op);
    L->param("op", J(op));
    return finish<IElementWiseLayer>(L);
  }
  IUnaryLayer* addUnary(ITensor& x, UnaryOperation op) noexcept override {
    RDD_REC("VNetworkDefinition", "addUnary", x, op);
    int o = static_cast<int>(op);
#if RDD_AT_LEAST(10, 1)
    int last = static_cast<int>(UnaryOperation::kISNAN);
#else
    int last = static_cast<int>(UnaryOperation::kISINF);  // kISNAN is not in these headers
#endif
    if (o < 0 || o > last) {
      if (net().logger) net().logger->log(ILogger::Severity::kERROR, ("addUnary: UnaryOperation " + std::to_string(o) + " is not defined in TensorRT " + std::to_string(NV_TENSORRT_MAJOR) + "." + std::to_string(NV_TENSORRT_MINOR)).c_str());
      return nullptr;
    }
    Layer* L = make<IUnaryLayer, UnaryImpl>("addUnary", LayerType::kUNARY, {&x});
    L->op = o;
    L->param("op", J(op));
    return finish<IUnaryLayer>(L);
  }
  IActivationLayer* addActivation(ITensor& x, ActivationType t) noexcept override {
    RDD_REC("VNetworkDefinition", "addActivation", x, t);
    Layer* L = make<IActivationLayer, ActivationImpl>("addActivation", LayerType::kACTIVATION, {&x});
    L->op = static_cast<int>(t);
    L->param("type", J(t));
    return finish<IActivationLayer>(L);
  }
  IMatrixMultiplyLayer* addMatrixMultiply(ITensor& a, MatrixOperation o0, ITensor& b, MatrixOperation o1) noexcept override {
    RDD_REC("VNetworkDefinition", "addMatrixMultiply", a, o0, b, o1);
    Layer* L = make<IMatrixMultiplyLayer, MatMulImpl>("addMatrixMultiply", LayerType::kMATRIX_MULTIPLY, {&a, &b});
    L->op = static_cast<int>(o0);
    L->op1 = static_cast<int>(o1);
    L->param("op0", J(o0));
    L->param("op1", J(o1));
    return finish<IMatrixMultiplyLayer>(L);
  }
  ISoftMaxLayer* addSoftMax(ITensor& x) noexcept override {
    RDD_REC("VNetworkDefinition", "addSoftMax", x);
    Layer* L = make<ISoftMaxLayer, SoftMaxImpl>("addSoftMax", LayerType::kSOFTMAX, {&x});
    int r = T(x)->dims.nbDims;
    L->axes = 1u << (r >= 3 ? r - 3 : 0);  // default: the first non-batch axis
    return finish<ISoftMaxLayer>(L);
  }
  ITopKLayer* topk(const char* method, ITensor& x, TopKOperation op, int32_t k, uint32_t axes, DataType indices) {
    Tensor* t = T(x);
    auto fail = [&](const std::string& m) -> ITopKLayer* {
      if (net().logger) net().logger->log(ILogger::Severity::kERROR, (std::string(method) + ": " + m).c_str());
      return nullptr;
    };
    // NvInfer.h / operator reference: K <= 3840, exactly one reduce axis, among the last four dims.
    if (k <= 0 || k > 3840) return fail("k " + std::to_string(k) + " is outside [1, 3840]");
    if (__builtin_popcount(axes) != 1) return fail("reduceAxes must have exactly one bit set");
    int ax = __builtin_ctz(axes), r = t->dims.nbDims;
    if (ax >= r) return fail("reduce axis " + std::to_string(ax) + " is outside the input's rank " + std::to_string(r));
    if (ax < r - 4) return fail("reduce axis " + std::to_string(ax) + " is not among the last four dims of a rank-" + std::to_string(r) + " input");
    if (!(isFloat(t->type) || t->type == DataType::kINT32 || t->type == DataType::kINT64)) return fail("input type " + std::to_string(static_cast<int>(t->type)) + " is not supported");
    if (indices != DataType::kINT32 && indices != DataType::kINT64) return fail("indices type must be int32 or int64");
    if (t->dims.d[ax] >= 0 && k > t->dims.d[ax]) return fail("k exceeds the reduced dim");
    Layer* L = make<ITopKLayer, TopKImpl>(method, LayerType::kTOPK, {&x});
    L->op = static_cast<int>(op);
    L->k = k;
    L->axes = axes;
    L->indexType = indices;
    L->param("op", J(op));
    L->param("k", J(k));
    L->param("reduceAxes", J(axes));
    L->param("indicesType", J(indices));
    return finish<ITopKLayer>(L);
  }
  ITopKLayer* addTopK(ITensor& x, TopKOperation op, int32_t k, uint32_t axes) noexcept override {
    RDD_REC("VNetworkDefinition", "addTopK", x, op, k, axes);
    return topk("addTopK", x, op, k, axes, DataType::kINT32);  // int32 indices
  }
#ifdef RDD_HAS_VNetworkDefinition_addTopKV2
  ITopKLayer* addTopKV2(ITensor& x, TopKOperation op, int32_t k, uint32_t axes, DataType indices) noexcept override {
    RDD_REC("VNetworkDefinition", "addTopKV2", x, op, k, axes, indices);
    return topk("addTopKV2", x, op, k, axes, indices);
  }
#endif
  IReduceLayer* addReduce(ITensor& x, ReduceOperation op, uint32_t axes, bool keep) noexcept override {
    RDD_REC("VNetworkDefinition", "addReduce", x, op, axes, keep);
    Layer* L = make<IReduceLayer, ReduceImpl>("addReduce", LayerType::kREDUCE, {&x});
    L->op = static_cast<int>(op);
    L->axes = axes;
    L->keep = keep;
    L->param("op", J(op));
    L->param("reduceAxes", J(axes));
    L->param("keepDimensions", J(keep));
    return finish<IReduceLayer>(L);
  }
  ISelectLayer* addSelect(ITensor& c, ITensor& a, ITensor& b) noexcept override {
    RDD_REC("VNetworkDefinition", "addSelect", c, a, b);
    return finish<ISelectLayer>(make<ISelectLayer, SelectImpl>("addSelect", LayerType::kSELECT, {&c, &a, &b}));
  }
  IFillLayer* fill(const char* method, Dims const& d, FillOperation op, DataType t) {
    // LINSPACE outputs int32, int64 or float32 only (operator reference, IFillLayer).
    if (op == FillOperation::kLINSPACE && t != DataType::kINT32 && t != DataType::kINT64 && t != DataType::kFLOAT) {
      if (net().logger) net().logger->log(ILogger::Severity::kERROR, (std::string(method) + ": kLINSPACE output type " + std::to_string(static_cast<int>(t)) + " is not int32, int64 or float32").c_str());
      return nullptr;
    }
    Layer* L = make<IFillLayer, FillImpl>(method, LayerType::kFILL, {});
    L->fillDims = d;
    L->toType = t;
    L->op = static_cast<int>(op);
    L->param("dims", J(d));
    L->param("op", J(op));
    L->param("dtype", J(t));
    return finish<IFillLayer>(L);
  }
#ifdef RDD_HAS_VNetworkDefinition_addFillV2
  IFillLayer* addFillV2(Dims const& d, FillOperation op, DataType t) noexcept override {
    RDD_REC("VNetworkDefinition", "addFillV2", d, op, t);
    return fill("addFillV2", d, op, t);
  }
#endif
#if defined(RDD_HAS_VNetworkDefinition_addFill) && !RDD_AT_LEAST(11, 0)
  IFillLayer* addFill(Dims const& d, FillOperation op) noexcept override {
    RDD_REC("VNetworkDefinition", "addFill", d, op);
    return fill("addFill", d, op, DataType::kFLOAT);
  }
#endif
#ifdef RDD_HAS_VNetworkDefinition_addCumulative
  ICumulativeLayer* addCumulative(ITensor& x, ITensor& axis, CumulativeOperation op, bool exclusive, bool reverse) noexcept override {
    RDD_REC("VNetworkDefinition", "addCumulative", x, axis, op, exclusive, reverse);
    Tensor* a = T(axis);
    if (a->dims.nbDims != 0 || (a->type != DataType::kINT32 && a->type != DataType::kINT64) || !a->producer || a->producer->type != LayerType::kCONSTANT) {
      if (net().logger) net().logger->log(ILogger::Severity::kERROR, "addCumulative: the axis must be a 0-D int32/int64 build-time constant");
      return nullptr;
    }
    Layer* L = make<ICumulativeLayer, CumulativeImpl>("addCumulative", LayerType::kCUMULATIVE, {&x, &axis});
    L->op = static_cast<int>(op);
    L->param("op", J(op));
    L->param("exclusive", J(exclusive));
    L->param("reverse", J(reverse));
    return finish<ICumulativeLayer>(L);
  }
#endif
  ICastLayer* addCast(ITensor& x, DataType t) noexcept override {
    RDD_REC("VNetworkDefinition", "addCast", x, t);
    Layer* L = make<ICastLayer, CastImpl>("addCast", LayerType::kCAST, {&x});
    L->toType = t;
    L->param("toType", J(t));
    return finish<ICastLayer>(L);
  }
  IScatterLayer* addScatter(ITensor& data, ITensor& idx, ITensor& upd, ScatterMode mode) noexcept override {
    RDD_REC("VNetworkDefinition", "addScatter", data, idx, upd, mode);
    Layer* L = make<IScatterLayer, ScatterImpl>("addScatter", LayerType::kSCATTER, {&data, &idx, &upd});
    L->op = static_cast<int>(mode);
    L->param("mode", J(mode));
    return finish<IScatterLayer>(L);
  }
  INonZeroLayer* nonzero(const char* method, ITensor& x, DataType indices) {
    Tensor* t = T(x);
    // NonZero input types (operator reference): float32, float16, bfloat16, int8, int32, bool.
    DataType ok[] = {DataType::kFLOAT, DataType::kHALF, DataType::kBF16, DataType::kINT8, DataType::kINT32, DataType::kBOOL};
    if (std::find(std::begin(ok), std::end(ok), t->type) == std::end(ok)) {
      if (net().logger) net().logger->log(ILogger::Severity::kERROR, (std::string(method) + ": input type " + std::to_string(static_cast<int>(t->type)) + " is not supported").c_str());
      return nullptr;
    }
    if (indices != DataType::kINT32 && indices != DataType::kINT64) return nullptr;
    Layer* L = make<INonZeroLayer, NonZeroImpl>(method, LayerType::kNON_ZERO, {&x});
    L->indexType = indices;
    L->param("indicesType", J(indices));
    return finish<INonZeroLayer>(L);
  }
  INonZeroLayer* addNonZero(ITensor& x) noexcept override {
    RDD_REC("VNetworkDefinition", "addNonZero", x);
    return nonzero("addNonZero", x, DataType::kINT32);  // NvInfer.h before 10.14: int32 indices
  }
#ifdef RDD_HAS_VNetworkDefinition_addNonZeroV2
  INonZeroLayer* addNonZeroV2(ITensor& x, DataType indices) noexcept override {
    RDD_REC("VNetworkDefinition", "addNonZeroV2", x, indices);
    return nonzero("addNonZeroV2", x, indices);
  }
#endif
#ifdef RDD_HAS_VNetworkDefinition_addAttention
  IAttention* attention(const char* method, ITensor& q, ITensor& k, ITensor& v, AttentionNormalizationOp op, int causalKind) {
    if (causalKind < 0 || causalKind > 2) {
      if (net().logger) net().logger->log(ILogger::Severity::kERROR, (std::string(method) + ": CausalMaskKind " + std::to_string(causalKind) + " is not defined").c_str());
      return nullptr;
    }
    Layer* L = push(method, LayerType::kATTENTION_OUTPUT, {&q, &k, &v});
    auto* f = new AttentionFace(L, net().rec);
    L->face.reset(f);
    L->attention = true;
    L->attentionFace = static_cast<IAttention*>(f);
    L->op = static_cast<int>(op);
    L->op1 = causalKind;
    L->causal = causalKind != 0;
    L->param("normOp", J(op));
    if (std::string(method) == "addAttentionV2") L->param("causalKind", J(causalKind));
    else L->param("causal", J(causalKind != 0));
    return accept(L) ? static_cast<IAttention*>(L->attentionFace) : nullptr;
  }
  IAttention* addAttention(ITensor& q, ITensor& k, ITensor& v, AttentionNormalizationOp op, bool causal) noexcept override {
    RDD_REC("VNetworkDefinition", "addAttention", q, k, v, op, causal);
    return attention("addAttention", q, k, v, op, causal ? 1 : 0);  // isCausal: kUPPER_LEFT
  }
#endif
#ifdef RDD_HAS_VNetworkDefinition_addAttentionV2
  IAttention* addAttentionV2(ITensor& q, ITensor& k, ITensor& v, AttentionNormalizationOp op, CausalMaskKind kind) noexcept override {
    RDD_REC("VNetworkDefinition", "addAttentionV2", q, k, v, op, kind);
    return attention("addAttentionV2", q, k, v, op, static_cast<int>(kind));
  }
#endif
#ifdef RDD_HAS_VNetworkDefinition_addRotaryEmbedding
  IRotaryEmbeddingLayer* addRotaryEmbedding(ITensor& x, ITensor& c, ITensor& s, bool interleaved, int32_t dim) noexcept override {
    RDD_REC("VNetworkDefinition", "addRotaryEmbedding", x, c, s, interleaved, dim);
    if (dim < 0 || dim % 2 != 0) {
      if (net().logger) net().logger->log(ILogger::Severity::kERROR, ("addRotaryEmbedding: rotaryEmbeddingDim " + std::to_string(dim) + " must be non-negative and even").c_str());
      return nullptr;
    }
    Layer* L = make<IRotaryEmbeddingLayer, RotaryImpl>("addRotaryEmbedding", LayerType::kROTARY_EMBEDDING, {&x, &c, &s});
    L->interleaved = interleaved;
    L->rotaryDim = dim;
    L->param("interleaved", J(interleaved));
    L->param("rotaryEmbeddingDim", J(dim));
    return finish<IRotaryEmbeddingLayer>(L);
  }
#endif
#ifdef RDD_HAS_VNetworkDefinition_addKVCacheUpdate
  IKVCacheUpdateLayer* addKVCacheUpdate(ITensor& cache, ITensor& update, ITensor& idx, KVCacheMode mode) noexcept override {
    RDD_REC("VNetworkDefinition", "addKVCacheUpdate", cache, update, idx, mode);
    Layer* L = make<IKVCacheUpdateLayer, KVCacheUpdateImpl>("addKVCacheUpdate", LayerType::kKVCACHE_UPDATE, {&cache, &update, &idx});
    L->op = static_cast<int>(mode);
    L->param("cacheMode", J(mode));
    return finish<IKVCacheUpdateLayer>(L);
  }
#endif
  template <class R, class I>
  R* qdq(const char* method, LayerType type, ITensor& x, ITensor& scale, DataType to) {
    Layer* L = make<R, I>(method, type, {&x, &scale});
    L->toType = to;
    L->axis = -1;  // NvInfer.h: "The default value is -1" (per tensor)
    L->param("toType", J(to));
    return finish<R>(L);
  }
#ifdef RDD_HAS_VNetworkDefinition_addQuantize
  IQuantizeLayer* addQuantize(ITensor& x, ITensor& s) noexcept override {
    RDD_REC("VNetworkDefinition", "addQuantize", x, s);
    return qdq<IQuantizeLayer, QuantizeImpl>("addQuantize", LayerType::kQUANTIZE, x, s, DataType::kINT8);
  }
  IDequantizeLayer* addDequantize(ITensor& x, ITensor& s) noexcept override {
    RDD_REC("VNetworkDefinition", "addDequantize", x, s);
    return qdq<IDequantizeLayer, DequantizeImpl>("addDequantize", LayerType::kDEQUANTIZE, x, s, T(s)->type);
  }
#endif
  IQuantizeLayer* addQuantizeV2(ITensor& x, ITensor& s, DataType t) noexcept override {
    RDD_REC("VNetworkDefinition", "addQuantizeV2", x, s, t);
    return qdq<IQuantizeLayer, QuantizeImpl>("addQuantizeV2", LayerType::kQUANTIZE, x, s, t);
  }
  IDequantizeLayer* addDequantizeV2(ITensor& x, ITensor& s, DataType t) noexcept override {
    RDD_REC("VNetworkDefinition", "addDequantizeV2", x, s, t);
    return qdq<IDequantizeLayer, DequantizeImpl>("addDequantizeV2", LayerType::kDEQUANTIZE, x, s, t);
  }
#ifdef RDD_HAS_VNetworkDefinition_addDistCollective
  IDistCollectiveLayer* addDistCollective(ITensor& x, CollectiveOperation op, ReduceOperation red, int64_t root, int64_t* groups, int64_t n) noexcept override {
    std::vector<int64_t> g;
    if (groups && n > 0) g.assign(groups, groups + n);
    std::string ga = "[";
    for (size_t i = 0; i < g.size(); i++) ga += (i ? "," : "") + std::to_string(g[i]);
    ga += "]";
    call(rddRec, "VNetworkDefinition", rddId, "addDistCollective", "[" + J(x) + "," + J(op) + "," + J(red) + "," + J(root) + "," + ga + "," + J(n) + "]", false);
    if (n < 0 || (n > 0 && !groups)) {
      if (net().logger) net().logger->log(ILogger::Severity::kERROR, "addDistCollective: groupSize must be >= 0 and groups non-null when it is > 0");
      return nullptr;
    }
    Layer* L = make<IDistCollectiveLayer, DistCollectiveImpl>("addDistCollective", LayerType::kDIST_COLLECTIVE, {&x});
    L->op = static_cast<int>(op);
    L->op1 = static_cast<int>(red);
    L->root = root;
    L->groups = g;
    L->param("op", J(op));
    L->param("reduceOp", J(red));
    L->param("root", J(root));
    L->param("groups", ga);
    return finish<IDistCollectiveLayer>(L);
  }
#endif
  IIdentityLayer* addIdentity(ITensor& x) noexcept override {
    RDD_REC("VNetworkDefinition", "addIdentity", x);
    return finish<IIdentityLayer>(make<IIdentityLayer, IdentityImpl>("addIdentity", LayerType::kIDENTITY, {&x}));
  }
  void setName(char const* name) noexcept override { RDD_REC("VNetworkDefinition", "setName", name); net().name = name ? name : ""; }
  char const* getName() const noexcept override { return net().name.c_str(); }
  NetworkDefinitionCreationFlags getFlags() const noexcept override { return net().flags; }
  bool getFlag(NetworkDefinitionCreationFlag f) const noexcept override { return net().flags & (1U << static_cast<uint32_t>(f)); }
};

Network::Network(Rec* rec, ILogger* logger, uint32_t flags) : impl(std::make_unique<Impl>()) {
  impl->N = this;
  impl->rddRec = rec;
  impl->rddId = nextId();
  net.rec = rec;
  net.logger = logger;
  net.flags = flags;
  mImpl = impl.get();
}
Network::~Network() = default;

// ---- profile, memory, timing cache, config, builder ---------------------------------------

struct Profile final : IOptimizationProfile {
  struct Impl : GenVOptimizationProfile {
    Profile* P = nullptr;
    bool setDimensions(char const* name, OptProfileSelector s, Dims const& d) noexcept override {
      RDD_REC("VOptimizationProfile", "setDimensions", name, s, d);
      int k = static_cast<int>(s);
      if (!name || k < 0 || k > 2 || d.nbDims < 0 || d.nbDims > Dims::MAX_DIMS) return false;
      P->dims[name][k] = d;
      return true;
    }
    Dims getDimensions(char const* name, OptProfileSelector s) const noexcept override {
      auto it = P->dims.find(name ? name : "");
      return it == P->dims.end() ? Dims{-1, {}} : it->second[static_cast<int>(s)];
    }
    bool shapeValues(char const* name, OptProfileSelector s, std::vector<int64_t> v) {
      int k = static_cast<int>(s);
      if (!name || k < 0 || k > 2) return false;
      P->values[name][k] = std::move(v);
      return true;
    }
#ifdef RDD_HAS_VOptimizationProfile_setShapeValues
    bool setShapeValues(char const* name, OptProfileSelector s, int32_t const* v, int32_t n) noexcept override {
      RDD_REC("VOptimizationProfile", "setShapeValues", name, s, n);
      if (n < 0 || (n > 0 && !v)) return false;
      return shapeValues(name, s, std::vector<int64_t>(v, v + n));
    }
#endif
#ifdef RDD_HAS_VOptimizationProfile_setShapeValuesV2
    bool setShapeValuesV2(char const* name, OptProfileSelector s, int64_t const* v, int32_t n) noexcept override {
      RDD_REC("VOptimizationProfile", "setShapeValuesV2", name, s, n);
      if (n < 0 || (n > 0 && !v)) return false;
      return shapeValues(name, s, std::vector<int64_t>(v, v + n));
    }
#endif
    int32_t getNbShapeValues(char const* name) const noexcept override {
      auto it = P->values.find(name ? name : "");
      return it == P->values.end() ? -1 : static_cast<int32_t>(it->second[0].size());
    }
    bool isValid() const noexcept override { return true; }
  } impl;
  int id = 0;
  std::map<std::string, std::array<Dims, 3>> dims;
  std::map<std::string, std::array<std::vector<int64_t>, 3>> values;
  Profile(Rec* rec) {
    id = nextId();
    impl.P = this;
    impl.rddRec = rec;
    impl.rddId = id;
    mImpl = &impl;
    for (auto& d : dims) (void)d;
  }
  ~Profile() override = default;
};

struct HostMemory final : IHostMemory {
  struct Impl : GenVHostMemory {
    HostMemory* H = nullptr;
    void* data() const noexcept override { return H->ptr; }
    std::size_t size() const noexcept override { return H->n; }
    DataType type() const noexcept override { return DataType::kUINT8; }
  } impl;
  std::string buf;
  void* ptr = nullptr;
  size_t n = 0;
  bool mapped = false;
  HostMemory(std::string s, size_t padTo) : buf(std::move(s)) {
    impl.H = this;
    mImpl = &impl;
    if (padTo > buf.size()) {
      // Sparse: pages never written stay unbacked (the >= 4 GiB path without 4 GiB of memory).
      void* p = mmap(nullptr, padTo, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (p != MAP_FAILED) {
        std::memcpy(p, buf.data(), buf.size());
        ptr = p;
        n = padTo;
        mapped = true;
        return;
      }
    }
    ptr = buf.data();
    n = buf.size();
  }
  ~HostMemory() override {
    if (mapped) munmap(ptr, n);
  }
};

const char kCacheMagic[] = "RDD-TIMING-CACHE 1\n";

struct TimingCache final : ITimingCache {
  struct Impl : GenVTimingCache {
    TimingCache* C = nullptr;
    IHostMemory* serialize() const noexcept override {
      RDD_REC("VTimingCache", "serialize");
      return new HostMemory(std::string(kCacheMagic) + std::to_string(C->entries) + "\n", 0);
    }
    bool combine(ITimingCache const& other, bool) noexcept override {
      C->entries += static_cast<TimingCache const&>(other).entries;
      return true;
    }
    bool reset() noexcept override { C->entries = 0; return true; }
  } impl;
  int entries = 0;
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);
  explicit TimingCache(Rec* rec) {
    impl.C = this;
    impl.rddRec = rec;
    impl.rddId = nextId();
    mImpl = &impl;
  }
  ~TimingCache() override { *alive = false; }
};

struct Config final : IBuilderConfig {
  struct Impl : GenVBuilderConfig {
    Config* C = nullptr;
    int32_t addOptimizationProfile(IOptimizationProfile const* p) noexcept override {
      RDD_REC("VBuilderConfig", "addOptimizationProfile", p ? static_cast<const Profile*>(p)->id : -1);
      if (!p) return -1;
      C->profiles.push_back(static_cast<const Profile*>(p));
      return static_cast<int32_t>(C->profiles.size() - 1);
    }
    int32_t getNbOptimizationProfiles() const noexcept override { return static_cast<int32_t>(C->profiles.size()); }
    void setMemoryPoolLimit(MemoryPoolType pool, std::size_t n) noexcept override {
      RDD_REC("VBuilderConfig", "setMemoryPoolLimit", pool, n);
      C->pools[static_cast<int>(pool)] = n;
    }
    std::size_t getMemoryPoolLimit(MemoryPoolType pool) const noexcept override {
      auto it = C->pools.find(static_cast<int>(pool));
      return it == C->pools.end() ? 0 : it->second;
    }
    void setBuilderOptimizationLevel(int32_t level) noexcept override {
      RDD_REC("VBuilderConfig", "setBuilderOptimizationLevel", level);
      C->optLevel = level;
    }
    int32_t getBuilderOptimizationLevel() const noexcept override { return C->optLevel; }
    ITimingCache* createTimingCache(void const* blob, std::size_t size) const noexcept override {
      call(rddRec, "VBuilderConfig", rddId, "createTimingCache", args(size), false);
      auto* c = new TimingCache(rddRec);
      if (blob && size > 0) {
        std::string s(static_cast<const char*>(blob), size);
        if (s.rfind(kCacheMagic, 0) != 0) {
          // TensorRT fails to deserialize a corrupt cache: an error and no cache.
          if (C->logger) C->logger->log(ILogger::Severity::kERROR, "createTimingCache: the timing cache blob is corrupt (deserialization failed)");
          delete c;
          return nullptr;
        }
        c->entries = std::atoi(s.c_str() + sizeof(kCacheMagic) - 1);
      }
      return c;
    }
    bool setTimingCache(ITimingCache const& cache, bool ignoreMismatch) noexcept override {
      RDD_REC("VBuilderConfig", "setTimingCache", ignoreMismatch);
      auto& c = static_cast<TimingCache const&>(cache);
      C->cache = const_cast<TimingCache*>(&c);
      C->cacheAlive = c.alive;
      return true;
    }
    ITimingCache const* getTimingCache() const noexcept override { return C->cache; }
    void setProgressMonitor(IProgressMonitor* m) noexcept override {
      RDD_REC("VBuilderConfig", "setProgressMonitor", m);
      C->monitor = m;
    }
    IProgressMonitor* getProgressMonitor() const noexcept override { return C->monitor; }
    void setFlag(BuilderFlag f) noexcept override { RDD_REC("VBuilderConfig", "setFlag", f); C->flags |= 1u << static_cast<int>(f); }
    void setFlags(BuilderFlags f) noexcept override { RDD_REC("VBuilderConfig", "setFlags", f); C->flags = f; }
    BuilderFlags getFlags() const noexcept override { return C->flags; }
    bool getFlag(BuilderFlag f) const noexcept override { return C->flags & (1u << static_cast<int>(f)); }
  } impl;
  ILogger* logger = nullptr;
  std::vector<const Profile*> profiles;
  std::map<int, size_t> pools;
  int32_t optLevel = 3;
  uint32_t flags = 0;
  TimingCache* cache = nullptr;
  std::shared_ptr<bool> cacheAlive;
  IProgressMonitor* monitor = nullptr;
  Config(Rec* rec, ILogger* l) : logger(l) {
    impl.C = this;
    impl.rddRec = rec;
    impl.rddId = nextId();
    mImpl = &impl;
  }
  ~Config() override {
    // NvInfer.h: the timing cache must outlive the builder config that uses it.
    if (cacheAlive && !*cacheAlive && logger) logger->log(ILogger::Severity::kERROR, "IBuilderConfig destroyed after the ITimingCache it uses (the cache must outlive the config)");
  }
};

std::string recordJson(Net& net, Config& cfg, Rec& rec);

struct Builder final : IBuilder {
  struct Impl : GenVBuilder {
    Builder* B = nullptr;
    IBuilderConfig* createBuilderConfig() noexcept override {
      RDD_REC("VBuilder", "createBuilderConfig");
      if (faulty("config")) return nullptr;
      return new Config(rddRec, B->logger);
    }
    INetworkDefinition* createNetworkV2(NetworkDefinitionCreationFlags flags) noexcept override {
      RDD_REC("VBuilder", "createNetworkV2", flags);
      if (faulty("network")) return nullptr;
      return new Network(rddRec, B->logger, flags);
    }
    IOptimizationProfile* createOptimizationProfile() noexcept override {
      RDD_REC("VBuilder", "createOptimizationProfile");
      if (faulty("profile")) return nullptr;
      B->profiles.push_back(std::make_unique<Profile>(rddRec));
      return B->profiles.back().get();
    }
    ILogger* getLogger() const noexcept override { return B->logger; }
    IHostMemory* buildSerializedNetwork(INetworkDefinition& network, IBuilderConfig& config) noexcept override;
  } impl;
  ILogger* logger = nullptr;
  Rec rec;
  std::vector<std::unique_ptr<Profile>> profiles;
  explicit Builder(ILogger* l) : logger(l) {
    impl.B = this;
    impl.rddRec = &rec;
    impl.rddId = nextId();
    mImpl = &impl;
  }
};

/** The shape-tensor inputs: network inputs whose values feed a shape input (reshape dims, slice start/size/stride, fill dims). */
std::set<Tensor*> shapeTensorInputs(Net& net) {
  std::set<Tensor*> seen, out;
  std::vector<Tensor*> work;
  for (auto& L : net.layers) {
    auto push = [&](int i) { if (Tensor* t = L->in(i)) work.push_back(t); };
    if (L->type == LayerType::kSHUFFLE) push(1);
    if (L->type == LayerType::kSLICE) push(1), push(2), push(3);
    if (L->type == LayerType::kFILL) push(0);
  }
  while (!work.empty()) {
    Tensor* t = work.back();
    work.pop_back();
    if (!seen.insert(t).second) continue;
    if (t->input) { out.insert(t); continue; }
    Layer* p = t->producer;
    if (!p || p->type == LayerType::kSHAPE || p->type == LayerType::kCONSTANT) continue;
    for (Tensor* x : p->inputs)
      if (x) work.push_back(x);
  }
  return out;
}

IHostMemory* Builder::Impl::buildSerializedNetwork(INetworkDefinition& network, IBuilderConfig& config) noexcept {
  RDD_REC("VBuilder", "buildSerializedNetwork");
  Net& net = static_cast<Network&>(network).net;
  Config& cfg = static_cast<Config&>(config);
  ILogger* log = B->logger;
  auto err = [&](const std::string& m) -> IHostMemory* {
    if (log) log->log(ILogger::Severity::kERROR, m.c_str());
    return nullptr;
  };
  if (faulty("build")) return err("buildSerializedNetwork: rejected by fault injection (REDRAFT_TRT_DOUBLE_FAIL=build)");
  if (!net.errors.empty()) return err("buildSerializedNetwork: the network is invalid (" + std::to_string(net.errors.size()) + " error(s) reported above)");
  if (net.outputs.empty()) return err("buildSerializedNetwork: the network has no outputs");
  net.building = true;
  for (auto& L : net.layers) {
    std::string e = inferImpl(*L);
    L->dirty = false;
    if (!e.empty()) return err(L->where() + ": " + e);
  }
  std::set<std::string> outNames;
  for (Tensor* t : net.outputs) {
    if (t->name.empty()) return err("an output tensor has no name");
    if (!outNames.insert(t->name).second) return err("two outputs named '" + t->name + "'");
    for (auto& i : net.inputs)
      if (i->name == t->name) return err("output '" + t->name + "' has the name of a network input");
  }
  bool dynamic = false;
  for (auto& i : net.inputs)
    for (int k = 0; k < i->dims.nbDims; k++) dynamic = dynamic || i->dims.d[k] < 0;
  std::set<Tensor*> shapeIns = shapeTensorInputs(net);
  for (auto& i : net.inputs) dynamic = dynamic || shapeIns.count(i.get());
  if (dynamic && cfg.profiles.empty()) return err("buildSerializedNetwork: the network has dynamic or shape inputs but no optimization profile was added");
  for (const Profile* p : cfg.profiles) {
    for (auto& [name, d] : p->dims) {
      bool known = false;
      for (auto& i : net.inputs) known = known || i->name == name;
      if (!known) return err("optimization profile: '" + name + "' is not a network input");
    }
    for (auto& i : net.inputs) {
      auto it = p->dims.find(i->name);
      bool needDims = false;
      for (int k = 0; k < i->dims.nbDims; k++) needDims = needDims || i->dims.d[k] < 0;
      if (it == p->dims.end()) {
        if (needDims) return err("optimization profile: no dimensions for input '" + i->name + "'");
      } else {
        for (int s = 0; s < 3; s++)
          if (it->second[s].nbDims != i->dims.nbDims) return err("optimization profile: dimensions of '" + i->name + "' have the wrong rank");
        for (int k = 0; k < i->dims.nbDims; k++) {
          int64_t mn = it->second[0].d[k], op = it->second[1].d[k], mx = it->second[2].d[k];
          if (!(0 <= mn && mn <= op && op <= mx)) return err("optimization profile: '" + i->name + "' needs 0 <= min <= opt <= max at dim " + std::to_string(k));
          if (i->dims.d[k] >= 0 && (mn != i->dims.d[k] || mx != i->dims.d[k])) return err("optimization profile: '" + i->name + "' dim " + std::to_string(k) + " is static");
        }
#if NV_TENSORRT_MAJOR < 11
        int64_t v = volume(it->second[2]);
        if (v >= (int64_t(1) << 31)) return err("input '" + i->name + "': volume " + std::to_string(v) + " at the profile maximum is not below 2^31 (TensorRT 10.x)");
#endif
      }
      if (shapeIns.count(i.get())) {
        auto vt = p->values.find(i->name);
        if (vt == p->values.end()) return err("optimization profile: shape input '" + i->name + "' has no shape values (setShapeValues" +
#ifdef RDD_HAS_VOptimizationProfile_setShapeValuesV2
                                              std::string("V2") +
#else
                                              std::string("") +
#endif
                                              ")");
        int64_t n = volume(i->dims);
        for (int s = 0; s < 3; s++)
          if (n >= 0 && static_cast<int64_t>(vt->second[s].size()) != n) return err("optimization profile: shape input '" + i->name + "' needs " + std::to_string(n) + " values");
        for (size_t k = 0; k < vt->second[0].size(); k++)
          if (!(vt->second[0][k] <= vt->second[1][k] && vt->second[1][k] <= vt->second[2][k])) return err("optimization profile: shape values of '" + i->name + "' need min <= opt <= max");
      }
    }
  }
  if (cfg.monitor) {
    cfg.monitor->phaseStart("Building the network (redraft TensorRT double)", nullptr, static_cast<int32_t>(net.layers.size()));
    for (size_t i = 0; i < net.layers.size(); i++)
      if (!cfg.monitor->stepComplete("Building the network (redraft TensorRT double)", static_cast<int32_t>(i))) {
        cfg.monitor->phaseFinish("Building the network (redraft TensorRT double)");
        return err("the build was cancelled by the progress monitor");
      }
    cfg.monitor->phaseFinish("Building the network (redraft TensorRT double)");
  }
  if (cfg.cache) cfg.cache->entries += static_cast<int>(net.layers.size());
  if (log)
    for (auto& L : net.layers) log->log(ILogger::Severity::kINFO, ("built " + L->where()).c_str());
  std::string json = recordJson(net, cfg, B->rec);
  size_t pad = 0;
  if (const char* e = std::getenv("REDRAFT_TRT_DOUBLE_ENGINE_BYTES")) pad = static_cast<size_t>(std::strtoull(e, nullptr, 10));
  if (log) log->log(ILogger::Severity::kINFO, ("redraft TensorRT double: engine of " + std::to_string(std::max(pad, json.size())) + " bytes (the last log message)").c_str());
  return new HostMemory(std::move(json), pad);
}

std::string recordJson(Net& net, Config& cfg, Rec& rec) {
  std::ostringstream o;
  o << "{\"double\":\"redraft-trt-double\",\"headers\":\"" << NV_TENSORRT_MAJOR << "." << NV_TENSORRT_MINOR << "." << NV_TENSORRT_PATCH << "\"";
  o << ",\"generatedMethods\":" << kGeneratedMethods << ",\"flags\":" << net.flags << ",\"name\":" << jstr(net.name);
  o << ",\"inputs\":[";
  for (size_t i = 0; i < net.inputs.size(); i++) {
    Tensor& t = *net.inputs[i];
    o << (i ? "," : "") << "{\"id\":" << t.id << ",\"name\":" << jstr(t.name) << ",\"dtype\":" << static_cast<int>(t.type) << ",\"dims\":" << jdims(t.dims) << "}";
  }
  o << "],\"layers\":[";
  for (size_t i = 0; i < net.layers.size(); i++) {
    Layer& L = *net.layers[i];
    o << (i ? "," : "") << "{\"id\":" << L.id << ",\"method\":\"" << L.method << "\",\"name\":" << jstr(L.name) << ",\"inputs\":[";
    for (size_t k = 0; k < L.inputs.size(); k++) o << (k ? "," : "") << (L.inputs[k] ? std::to_string(L.inputs[k]->id) : "null");
    o << "],\"setInputs\":[";
    for (size_t k = 0; k < L.setInputs.size(); k++) o << (k ? "," : "") << L.setInputs[k];
    o << "],\"outputs\":[";
    for (size_t k = 0; k < L.outputs.size(); k++) {
      Tensor& t = *L.outputs[k];
      o << (k ? "," : "") << "{\"id\":" << t.id << ",\"name\":" << jstr(t.name) << ",\"dtype\":" << static_cast<int>(t.type) << ",\"dims\":" << jdims(t.dims) << "}";
    }
    o << "],\"params\":{";
    for (size_t k = 0; k < L.params.size(); k++) o << (k ? "," : "") << jstr(L.params[k].first) << ":" << L.params[k].second;
    o << "}";
    if (L.type == LayerType::kCONSTANT) o << ",\"weights\":\"" << b64(L.weights.data(), L.weights.size()) << "\"";
    o << "}";
  }
  o << "],\"outputs\":[";
  for (size_t i = 0; i < net.outputs.size(); i++) o << (i ? "," : "") << "{\"id\":" << net.outputs[i]->id << ",\"name\":" << jstr(net.outputs[i]->name) << "}";
  o << "],\"profiles\":[";
  for (size_t i = 0; i < cfg.profiles.size(); i++) {
    const Profile& p = *cfg.profiles[i];
    o << (i ? "," : "") << "{";
    bool first = true;
    for (auto& [name, d] : p.dims) {
      o << (first ? "" : ",") << jstr(name) << ":{\"min\":" << jdims(d[0]) << ",\"opt\":" << jdims(d[1]) << ",\"max\":" << jdims(d[2]);
      auto v = p.values.find(name);
      if (v != p.values.end()) {
        o << ",\"values\":{";
        const char* sel[] = {"min", "opt", "max"};
        for (int s = 0; s < 3; s++) {
          o << (s ? "," : "") << "\"" << sel[s] << "\":[";
          for (size_t k = 0; k < v->second[s].size(); k++) o << (k ? "," : "") << v->second[s][k];
          o << "]";
        }
        o << "}";
      }
      o << "}";
      first = false;
    }
    for (auto& [name, v] : p.values) {
      if (p.dims.count(name)) continue;
      o << (first ? "" : ",") << jstr(name) << ":{\"values\":{\"min\":[";
      for (size_t k = 0; k < v[0].size(); k++) o << (k ? "," : "") << v[0][k];
      o << "],\"opt\":[";
      for (size_t k = 0; k < v[1].size(); k++) o << (k ? "," : "") << v[1][k];
      o << "],\"max\":[";
      for (size_t k = 0; k < v[2].size(); k++) o << (k ? "," : "") << v[2][k];
      o << "]}}";
      first = false;
    }
    o << "}";
  }
  o << "],\"config\":[";
  {
    std::lock_guard<std::mutex> l(rec.m);
    bool first = true;
    for (auto& c : rec.calls)
      if (c.find("\"i\":\"VBuilderConfig\"") != std::string::npos) { o << (first ? "" : ",") << c; first = false; }
    o << "],\"unimplementedCalls\":" << rec.unimplemented << ",\"calls\":[";
    for (size_t i = 0; i < rec.calls.size(); i++) o << (i ? "," : "") << rec.calls[i];
  }
  o << "]}";
  return o.str();
}

}  // namespace rdd

extern "C" {
__attribute__((visibility("default"))) void* createInferBuilder_INTERNAL(void* logger, int32_t version) noexcept {
  auto* log = static_cast<nvinfer1::ILogger*>(logger);
  // The version handshake: the caller's headers must be this library's major version and no
  // newer than it (their vtables must be a prefix of ours).
  int32_t mine = NV_TENSORRT_VERSION;
  if (version / 10000 != mine / 10000 || version / 100 > mine / 100) {
    if (log) {
      std::string m = "createInferBuilder: the caller was compiled against TensorRT " + std::to_string(version / 10000) + "." + std::to_string((version / 100) % 100) +
                      " headers, this library is " + std::to_string(mine / 10000) + "." + std::to_string((mine / 100) % 100);
      log->log(nvinfer1::ILogger::Severity::kERROR, m.c_str());
    }
    return nullptr;
  }
  if (rdd::faulty("builder")) return nullptr;
  return static_cast<nvinfer1::IBuilder*>(new rdd::Builder(log));
}
__attribute__((visibility("default"))) int32_t getInferLibVersion() noexcept { return NV_TENSORRT_VERSION; }
}
