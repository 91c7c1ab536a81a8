#include "plan.hh"

#include <stdexcept>

namespace redraft {

namespace {
using Table = std::map<std::string, int>;
const std::map<std::string, Table> kTables = {
    {"DataType", {{"kFLOAT", 0}, {"kHALF", 1}, {"kINT8", 2}, {"kINT32", 3}, {"kBOOL", 4}, {"kUINT8", 5}, {"kFP8", 6}, {"kBF16", 7}, {"kINT64", 8}, {"kINT4", 9}}},
    {"ElementWiseOperation", {{"kSUM", 0}, {"kPROD", 1}, {"kMAX", 2}, {"kMIN", 3}, {"kSUB", 4}, {"kDIV", 5}, {"kPOW", 6}, {"kFLOOR_DIV", 7}, {"kAND", 8}, {"kOR", 9}, {"kXOR", 10}, {"kEQUAL", 11}, {"kGREATER", 12}, {"kLESS", 13}}},
    {"UnaryOperation", {{"kEXP", 0}, {"kLOG", 1}, {"kSQRT", 2}, {"kRECIP", 3}, {"kABS", 4}, {"kNEG", 5}, {"kSIN", 6}, {"kCOS", 7}, {"kCEIL", 17}, {"kFLOOR", 18}, {"kERF", 19}, {"kNOT", 20}, {"kSIGN", 21}, {"kROUND", 22}, {"kISINF", 23}, {"kISNAN", 24}}},
    {"ActivationType", {{"kRELU", 0}, {"kSIGMOID", 1}, {"kTANH", 2}, {"kLEAKY_RELU", 3}, {"kELU", 4}, {"kSOFTPLUS", 7}, {"kCLIP", 8}, {"kGELU_ERF", 12}, {"kGELU_TANH", 13}}},
    {"ReduceOperation", {{"kSUM", 0}, {"kPROD", 1}, {"kMAX", 2}, {"kMIN", 3}, {"kAVG", 4}}},
    {"MatrixOperation", {{"kNONE", 0}, {"kTRANSPOSE", 1}, {"kVECTOR", 2}}},
    {"SampleMode", {{"kSTRICT_BOUNDS", 0}, {"kWRAP", 1}, {"kCLAMP", 2}, {"kFILL", 3}}},
    {"GatherMode", {{"kDEFAULT", 0}, {"kELEMENT", 1}, {"kND", 2}}},
    {"ScatterMode", {{"kELEMENT", 0}, {"kND", 1}}},
    {"TopKOperation", {{"kMAX", 0}, {"kMIN", 1}}},
    {"FillOperation", {{"kLINSPACE", 0}}},
    {"CumulativeOperation", {{"kSUM", 0}}},
    {"AttentionNormalizationOp", {{"kNONE", 0}, {"kSOFTMAX", 1}}},
    {"CausalMaskKind", {{"kNONE", 0}, {"kUPPER_LEFT", 1}, {"kLOWER_RIGHT", 2}}},
    {"KVCacheMode", {{"kLINEAR", 0}}},
    {"CollectiveOperation", {{"kALL_REDUCE", 0}, {"kALL_GATHER", 1}, {"kBROADCAST", 2}}},
    // ReduceOperation of a collective (kNONE, 10.16+, for collectives that do not reduce).
    {"CollectiveReduceOperation", {{"kSUM", 0}, {"kPROD", 1}, {"kMAX", 2}, {"kMIN", 3}, {"kAVG", 4}, {"kNONE", 5}}},
};
const std::map<std::string, Method> kMethods = {
    {"addConstant", Method::Constant}, {"addShape", Method::Shape}, {"addShuffle", Method::Shuffle},
    {"addConcatenation", Method::Concatenation}, {"addGatherV2", Method::GatherV2}, {"addSlice", Method::Slice},
    {"addElementWise", Method::ElementWise}, {"addUnary", Method::Unary}, {"addActivation", Method::Activation},
    {"addMatrixMultiply", Method::MatrixMultiply}, {"addSoftMax", Method::SoftMax}, {"addTopK", Method::TopK},
    {"addReduce", Method::Reduce}, {"addSelect", Method::Select}, {"addFill", Method::Fill},
    {"addCumulative", Method::Cumulative}, {"addCast", Method::Cast}, {"addScatter", Method::Scatter},
    {"addNonZero", Method::NonZero},
    {"addAttention", Method::Attention}, {"addAttentionV2", Method::AttentionV2},
    {"addRotaryEmbedding", Method::RotaryEmbedding}, {"addKVCacheUpdate", Method::KVCacheUpdate},
    {"addQuantize", Method::Quantize}, {"addDequantize", Method::Dequantize}, {"addDistCollective", Method::DistCollective},
};

[[noreturn]] void fail(Napi::Env env, const std::string& where, const std::string& msg) {
  throw Napi::Error::New(env, "plan: " + where + ": " + msg);
}

int decodeEnum(Napi::Env env, const std::string& where, const std::string& kind, const Napi::Value& v) {
  if (!v.IsString()) fail(env, where, kind + " must be a string");
  const auto& t = enumTable(kind);
  auto it = t.find(v.As<Napi::String>().Utf8Value());
  if (it == t.end()) fail(env, where, "unknown " + kind + " '" + v.As<Napi::String>().Utf8Value() + "'");
  return it->second;
}

std::vector<int64_t> ints(Napi::Env env, const std::string& where, const Napi::Value& v) {
  if (!v.IsArray()) fail(env, where, "expected an array of integers");
  auto a = v.As<Napi::Array>();
  std::vector<int64_t> out(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value x = a.Get(i);
    if (!x.IsNumber()) fail(env, where, "expected an array of integers");
    double d = x.As<Napi::Number>().DoubleValue();
    if (d != static_cast<double>(static_cast<int64_t>(d))) fail(env, where, "expected an array of integers");
    out[i] = static_cast<int64_t>(d);
  }
  return out;
}

Napi::Object objectAt(Napi::Env env, const std::string& where, const Napi::Value& v) {
  if (!v.IsObject() || v.IsArray()) fail(env, where, "expected an object");
  return v.As<Napi::Object>();
}
Napi::Array arrayAt(Napi::Env env, const std::string& where, const Napi::Value& v) {
  if (!v.IsArray()) fail(env, where, "expected an array");
  return v.As<Napi::Array>();
}
std::string stringAt(Napi::Env env, const std::string& where, const Napi::Value& v) {
  if (!v.IsString()) fail(env, where, "expected a string");
  return v.As<Napi::String>().Utf8Value();
}
// TensorRT's Dims hold at most 8 dims (Dims::MAX_DIMS).
constexpr size_t kMaxDims = 8;
void maxRank(Napi::Env env, const std::string& where, const std::vector<int64_t>& v) {
  if (v.size() > kMaxDims) fail(env, where, "has " + std::to_string(v.size()) + " dims; TensorRT allows at most 8");
}
void permutation(Napi::Env env, const std::string& where, const std::vector<int64_t>& v) {
  maxRank(env, where, v);
  std::vector<bool> seen(v.size(), false);
  for (int64_t x : v) {
    if (x < 0 || x >= static_cast<int64_t>(v.size()) || seen[x]) fail(env, where, "is not a permutation of 0.." + std::to_string(v.size() ? v.size() - 1 : 0));
    seen[x] = true;
  }
}

int intOf(const Napi::Object& o, const char* key, int dflt = 0) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().Int32Value() : dflt;
}
double numOf(const Napi::Object& o, const char* key, double dflt = 0) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : dflt;
}
bool boolOf(const Napi::Object& o, const char* key, bool dflt = false) {
  Napi::Value v = o.Get(key);
  return v.IsBoolean() ? v.As<Napi::Boolean>().Value() : dflt;
}

// A static dims parameter or a run-time tensor input (key + "Input").
void dimsOrInput(Napi::Env env, const std::string& where, const Napi::Object& p, const char* key, std::vector<int64_t>& dims, int& input) {
  std::string k(key);
  if (p.Has(k + "Input")) input = intOf(p, (k + "Input").c_str(), -1);
  else if (p.Has(k)) dims = ints(env, where + "." + k, p.Get(k));
  maxRank(env, where + "." + k, dims);
}

Napi::Array toArray(Napi::Env env, const std::vector<int64_t>& v) {
  auto a = Napi::Array::New(env, v.size());
  for (size_t i = 0; i < v.size(); i++) a.Set(i, Napi::Number::New(env, static_cast<double>(v[i])));
  return a;
}
Napi::Array toArray(Napi::Env env, const std::vector<int>& v) {
  auto a = Napi::Array::New(env, v.size());
  for (size_t i = 0; i < v.size(); i++) a.Set(i, Napi::Number::New(env, v[i]));
  return a;
}
}  // namespace

const std::map<std::string, int>& enumTable(const std::string& kind) { return kTables.at(kind); }

size_t dataTypeSize(int dtype) {
  switch (dtype) {
    case 0: case 3: return 4;  // kFLOAT, kINT32
    case 1: case 7: return 2;  // kHALF, kBF16
    case 8: return 8;          // kINT64
    default: return 1;         // kINT8, kBOOL, kUINT8, kFP8 (kINT4: see weightBytes)
  }
}

uint64_t weightBytes(int dtype, uint64_t count) {
  // kINT4 weights are packed two per byte; Weights::count counts elements.
  return dtype == 9 ? (count + 1) / 2 : count * dataTypeSize(dtype);
}

std::string enumName(const std::string& kind, int value) {
  for (const auto& [name, v] : kTables.at(kind))
    if (v == value) return name;
  return "?";
}

Plan decodePlan(const Napi::Object& js) {
  Napi::Env env = js.Env();
  Plan plan;
  plan.name = js.Get("name").IsString() ? js.Get("name").As<Napi::String>().Utf8Value() : "";
  auto wa = arrayAt(env, "weights", js.Get("weights"));
  for (uint32_t i = 0; i < wa.Length(); i++) {
    std::string where = "weights[" + std::to_string(i) + "]";
    auto o = objectAt(env, where, wa.Get(i));
    PlanWeights pw;
    pw.index = intOf(o, "index", static_cast<int>(i));
    pw.dtype = decodeEnum(env, where, "DataType", o.Get("dtype"));
    pw.shape = ints(env, where + ".shape", o.Get("shape"));
    maxRank(env, where + ".shape", pw.shape);
    Napi::Value d = o.Get("data");
    if (!d.IsTypedArray()) fail(env, where, "data must be a typed array");
    auto ta = d.As<Napi::TypedArray>();
    pw.data = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    pw.bytes = ta.ByteLength();
    // The byte count must be exactly volume x element size; TensorRT reads count x size bytes.
    int64_t n = 1;
    for (int64_t x : pw.shape) {
      if (x < 0) fail(env, where, "shape has a negative dim");
      n *= x;
    }
    if (n == 0 || pw.bytes == 0) fail(env, where, "is empty (TensorRT needs weights with at least one element)");
    if (weightBytes(pw.dtype, static_cast<uint64_t>(n)) != pw.bytes)
      fail(env, where, "holds " + std::to_string(pw.bytes) + " bytes; shape x " + enumName("DataType", pw.dtype) + " needs " + std::to_string(weightBytes(pw.dtype, static_cast<uint64_t>(n))));
    pw.count = n;
    plan.weights.push_back(pw);
  }
  std::map<int, bool> defined;
  auto ins = arrayAt(env, "inputs", js.Get("inputs"));
  for (uint32_t i = 0; i < ins.Length(); i++) {
    auto o = objectAt(env, "inputs[" + std::to_string(i) + "]", ins.Get(i));
    PlanInput in;
    in.id = intOf(o, "id");
    in.name = stringAt(env, "inputs[" + std::to_string(i) + "].name", o.Get("name"));
    std::string where = "input " + in.name;
    in.dtype = decodeEnum(env, where, "DataType", o.Get("dtype"));
    in.dims = ints(env, where + ".dims", o.Get("dims"));
    maxRank(env, where + ".dims", in.dims);
    auto prof = objectAt(env, where + ".profile", o.Get("profile"));
    in.min = ints(env, where + ".profile.min", prof.Get("min"));
    in.opt = ints(env, where + ".profile.opt", prof.Get("opt"));
    in.max = ints(env, where + ".profile.max", prof.Get("max"));
    if (in.min.size() != in.dims.size() || in.opt.size() != in.dims.size() || in.max.size() != in.dims.size()) fail(env, where, "profile min/opt/max must have one entry per dim");
    // Shape-tensor inputs: value ranges, from `shapeValues` (or `profile.values`).
    Napi::Value sv = o.Has("shapeValues") ? o.Get("shapeValues") : prof.Get("values");
    if (sv.IsObject()) {
      auto v = sv.As<Napi::Object>();
      in.hasShapeValues = true;
      in.valuesMin = ints(env, where + ".shapeValues.min", v.Get("min"));
      in.valuesOpt = ints(env, where + ".shapeValues.opt", v.Get("opt"));
      in.valuesMax = ints(env, where + ".shapeValues.max", v.Get("max"));
      if (in.valuesOpt.size() != in.valuesMin.size() || in.valuesMax.size() != in.valuesMin.size()) fail(env, where, "shapeValues min/opt/max must have the same length");
    }
    if (defined[in.id]) fail(env, where, "tensor #" + std::to_string(in.id) + " is defined twice");
    defined[in.id] = true;
    plan.inputs.push_back(in);
  }
  auto layers = arrayAt(env, "layers", js.Get("layers"));
  for (uint32_t i = 0; i < layers.Length(); i++) {
    auto o = objectAt(env, "layer " + std::to_string(i), layers.Get(i));
    PlanLayer l;
    l.methodName = o.Get("method").IsString() ? o.Get("method").As<Napi::String>().Utf8Value() : "";
    l.name = o.Get("name").IsString() ? o.Get("name").As<Napi::String>().Utf8Value() : "";
    if (o.Get("site").IsString()) l.site = o.Get("site").As<Napi::String>().Utf8Value();
    std::string where = "layer " + std::to_string(i) + " '" + l.name + "'" + (l.site.empty() ? "" : " (at " + l.site + ")");
    auto m = kMethods.find(l.methodName);
    if (m == kMethods.end()) fail(env, where, "unknown TensorRT call '" + l.methodName + "'");
    l.method = m->second;
    for (auto v : ints(env, where + ".inputs", o.Get("inputs"))) l.inputs.push_back(static_cast<int>(v));
    for (auto v : ints(env, where + ".outputs", o.Get("outputs"))) l.outputs.push_back(static_cast<int>(v));
    if (o.Get("outputDtypes").IsArray()) {
      auto a = o.Get("outputDtypes").As<Napi::Array>();
      for (uint32_t k = 0; k < a.Length(); k++) l.outputDtypes.push_back(decodeEnum(env, where + ".outputDtypes", "DataType", a.Get(k)));
    }
    auto p = objectAt(env, where + ".params", o.Get("params"));
    switch (l.method) {
      case Method::Constant:
        l.dims = ints(env, where + ".dims", p.Get("dims"));
        maxRank(env, where + ".dims", l.dims);
        l.weights = intOf(p, "weights", -1);
        l.dtype = decodeEnum(env, where, "DataType", p.Get("dtype"));
        if (l.weights < 0 || l.weights >= static_cast<int>(plan.weights.size())) fail(env, where, "weights index out of range");
        {
          const PlanWeights& w = plan.weights[l.weights];
          int64_t n = 1;
          for (int64_t x : l.dims) n *= x;
          if (w.dtype != l.dtype) fail(env, where, "dtype " + enumName("DataType", l.dtype) + " differs from its weights' " + enumName("DataType", w.dtype));
          if (static_cast<uint64_t>(n) != static_cast<uint64_t>(w.count)) fail(env, where, "dims do not match the weights' element count");
        }
        break;
      case Method::Shuffle:
        if (p.Has("firstTranspose")) permutation(env, where + ".firstTranspose", l.first = ints(env, where + ".firstTranspose", p.Get("firstTranspose")));
        if (p.Has("secondTranspose")) permutation(env, where + ".secondTranspose", l.second = ints(env, where + ".secondTranspose", p.Get("secondTranspose")));
        l.hasReshape = p.Has("reshapeDims") || p.Has("reshapeDimsInput");
        dimsOrInput(env, where, p, "reshapeDims", l.dims, l.dimsInput);
        l.zeroIsPlaceholder = boolOf(p, "zeroIsPlaceholder", true);
        break;
      case Method::Concatenation: l.axis = intOf(p, "axis"); break;
      case Method::GatherV2:
        l.op = decodeEnum(env, where, "GatherMode", p.Get("mode"));
        l.axis = intOf(p, "axis");
        l.nbElementWiseDims = intOf(p, "nbElementWiseDims");
        break;
      case Method::Slice:
        dimsOrInput(env, where, p, "start", l.start, l.startInput);
        dimsOrInput(env, where, p, "size", l.size, l.sizeInput);
        dimsOrInput(env, where, p, "stride", l.stride, l.strideInput);
        l.op = decodeEnum(env, where, "SampleMode", p.Get("mode"));
        l.fillValue = numOf(p, "fillValue");
        break;
      case Method::ElementWise: l.op = decodeEnum(env, where, "ElementWiseOperation", p.Get("op")); break;
      case Method::Unary: l.op = decodeEnum(env, where, "UnaryOperation", p.Get("op")); break;
      case Method::Activation:
        l.op = decodeEnum(env, where, "ActivationType", p.Get("type"));
        l.alpha = numOf(p, "alpha");
        l.beta = numOf(p, "beta");
        break;
      case Method::MatrixMultiply:
        l.op = decodeEnum(env, where, "MatrixOperation", p.Get("op0"));
        l.op1 = decodeEnum(env, where, "MatrixOperation", p.Get("op1"));
        break;
      case Method::SoftMax: l.axesMask = static_cast<uint32_t>(intOf(p, "axes")); break;
      case Method::TopK:
        l.op = decodeEnum(env, where, "TopKOperation", p.Get("op"));
        l.k = intOf(p, "k");
        l.axesMask = static_cast<uint32_t>(intOf(p, "reduceAxes"));
        break;
      case Method::Reduce:
        l.op = decodeEnum(env, where, "ReduceOperation", p.Get("op"));
        l.axesMask = static_cast<uint32_t>(intOf(p, "reduceAxes"));
        l.keepDims = boolOf(p, "keepDimensions");
        break;
      case Method::Fill:
        dimsOrInput(env, where, p, "dims", l.dims, l.dimsInput);
        l.op = decodeEnum(env, where, "FillOperation", p.Get("op"));
        l.dtype = decodeEnum(env, where, "DataType", p.Get("dtype"));
        l.alpha = numOf(p, "alpha");
        l.beta = numOf(p, "beta");
        break;
      case Method::Cumulative:
        l.op = decodeEnum(env, where, "CumulativeOperation", p.Get("op"));
        l.axis = intOf(p, "axis");
        l.exclusive = boolOf(p, "exclusive");
        l.reverse = boolOf(p, "reverse");
        break;
      case Method::Cast: l.dtype = decodeEnum(env, where, "DataType", p.Get("toType")); break;
      case Method::Scatter:
        l.op = decodeEnum(env, where, "ScatterMode", p.Get("mode"));
        l.axis = intOf(p, "axis");
        break;
      case Method::Attention:
      case Method::AttentionV2:
        l.op = decodeEnum(env, where, "AttentionNormalizationOp", p.Get("normOp"));
        if (l.method == Method::Attention) l.causal = boolOf(p, "causal");
        else l.op1 = decodeEnum(env, where, "CausalMaskKind", p.Get("causalKind"));
        l.decomposable = boolOf(p, "decomposable");
        if (l.inputs.size() < 3 || l.inputs.size() > 4) fail(env, where, "takes query, key, value and an optional mask");
        break;
      case Method::RotaryEmbedding:
        l.interleaved = boolOf(p, "interleaved");
        l.rotaryDim = intOf(p, "rotaryEmbeddingDim");
        if (l.rotaryDim < 0 || l.rotaryDim % 2 != 0) fail(env, where, "rotaryEmbeddingDim must be even and >= 0");
        if (l.inputs.size() < 3 || l.inputs.size() > 4) fail(env, where, "takes input, cos, sin and optional position ids");
        break;
      case Method::KVCacheUpdate:
        l.op = decodeEnum(env, where, "KVCacheMode", p.Get("cacheMode"));
        if (l.inputs.size() != 3) fail(env, where, "takes cache, update and write indices");
        break;
      case Method::Quantize:
      case Method::Dequantize:
        l.dtype = decodeEnum(env, where, "DataType", p.Get("toType"));
        l.axis = intOf(p, "axis", -1);
        if (l.inputs.size() != 2) fail(env, where, "takes the input and its scale");
        break;
      case Method::DistCollective:
        l.op = decodeEnum(env, where, "CollectiveOperation", p.Get("op"));
        l.op1 = decodeEnum(env, where, "CollectiveReduceOperation", p.Get("reduceOp"));
        l.root = intOf(p, "root", -1);
        l.groups = ints(env, where + ".groups", p.Get("groups"));
        if (l.inputs.size() != 1) fail(env, where, "takes one input");
        break;
      case Method::Shape:
      case Method::Select:
      case Method::NonZero:
        break;
    }
    if (l.outputs.empty()) fail(env, where, "has no outputs");
    for (int id : l.inputs)
      if (!defined[id]) fail(env, where, "input tensor #" + std::to_string(id) + " is not defined by an earlier layer or input");
    for (int id : {l.dimsInput, l.startInput, l.sizeInput, l.strideInput})
      if (id >= 0 && !defined[id]) fail(env, where, "shape input tensor #" + std::to_string(id) + " is not defined by an earlier layer or input");
    for (int id : l.outputs) {
      if (defined[id]) fail(env, where, "output tensor #" + std::to_string(id) + " is defined twice");
      defined[id] = true;
    }
    plan.layers.push_back(std::move(l));
  }
  auto outs = arrayAt(env, "outputs", js.Get("outputs"));
  for (uint32_t i = 0; i < outs.Length(); i++) {
    auto o = objectAt(env, "outputs[" + std::to_string(i) + "]", outs.Get(i));
    std::string name = stringAt(env, "outputs[" + std::to_string(i) + "].name", o.Get("name"));
    int id = intOf(o, "id", -1);
    if (!defined[id]) fail(env, "output '" + name + "'", "tensor #" + std::to_string(id) + " is not defined");
    plan.outputs.emplace_back(id, name);
  }
  return plan;
}

Napi::Object describePlan(Napi::Env env, const Plan& plan) {
  auto out = Napi::Object::New(env);
  auto layers = Napi::Array::New(env, plan.layers.size());
  for (size_t i = 0; i < plan.layers.size(); i++) {
    const PlanLayer& l = plan.layers[i];
    auto o = Napi::Object::New(env);
    o.Set("method", l.methodName);
    o.Set("name", l.name);
    o.Set("inputs", toArray(env, l.inputs));
    o.Set("outputs", toArray(env, l.outputs));
    auto put = [&](const char* k, const std::string& kind, int v) { o.Set(k, enumName(kind, v)); };
    switch (l.method) {
      case Method::Constant: o.Set("dims", toArray(env, l.dims)); o.Set("weights", l.weights); put("dtype", "DataType", l.dtype); break;
      case Method::Shuffle:
        if (!l.first.empty()) o.Set("firstTranspose", toArray(env, l.first));
        if (!l.second.empty()) o.Set("secondTranspose", toArray(env, l.second));
        if (l.hasReshape) { if (l.dimsInput >= 0) o.Set("reshapeDimsInput", l.dimsInput); else o.Set("reshapeDims", toArray(env, l.dims)); }
        o.Set("zeroIsPlaceholder", l.zeroIsPlaceholder);
        break;
      case Method::Concatenation: o.Set("axis", l.axis); break;
      case Method::GatherV2: put("mode", "GatherMode", l.op); o.Set("axis", l.axis); o.Set("nbElementWiseDims", l.nbElementWiseDims); break;
      case Method::Slice:
        if (l.startInput >= 0) o.Set("startInput", l.startInput); else o.Set("start", toArray(env, l.start));
        if (l.sizeInput >= 0) o.Set("sizeInput", l.sizeInput); else o.Set("size", toArray(env, l.size));
        if (l.strideInput >= 0) o.Set("strideInput", l.strideInput); else o.Set("stride", toArray(env, l.stride));
        put("mode", "SampleMode", l.op);
        if (l.op == 3) o.Set("fillValue", l.fillValue);
        break;
      case Method::ElementWise: put("op", "ElementWiseOperation", l.op); break;
      case Method::Unary: put("op", "UnaryOperation", l.op); break;
      case Method::Activation: put("type", "ActivationType", l.op); o.Set("alpha", l.alpha); o.Set("beta", l.beta); break;
      case Method::MatrixMultiply: put("op0", "MatrixOperation", l.op); put("op1", "MatrixOperation", l.op1); break;
      case Method::SoftMax: o.Set("axes", l.axesMask); break;
      case Method::TopK: put("op", "TopKOperation", l.op); o.Set("k", l.k); o.Set("reduceAxes", l.axesMask); break;
      case Method::Reduce: put("op", "ReduceOperation", l.op); o.Set("reduceAxes", l.axesMask); o.Set("keepDimensions", l.keepDims); break;
      case Method::Fill:
        if (l.dimsInput >= 0) o.Set("dimsInput", l.dimsInput); else o.Set("dims", toArray(env, l.dims));
        put("op", "FillOperation", l.op); put("dtype", "DataType", l.dtype); o.Set("alpha", l.alpha); o.Set("beta", l.beta);
        break;
      case Method::Cumulative: put("op", "CumulativeOperation", l.op); o.Set("axis", l.axis); o.Set("exclusive", l.exclusive); o.Set("reverse", l.reverse); break;
      case Method::Cast: put("toType", "DataType", l.dtype); break;
      case Method::Scatter: put("mode", "ScatterMode", l.op); o.Set("axis", l.axis); break;
      case Method::Attention: put("normOp", "AttentionNormalizationOp", l.op); o.Set("causal", l.causal); o.Set("decomposable", l.decomposable); break;
      case Method::AttentionV2: put("normOp", "AttentionNormalizationOp", l.op); put("causalKind", "CausalMaskKind", l.op1); o.Set("decomposable", l.decomposable); break;
      case Method::RotaryEmbedding: o.Set("interleaved", l.interleaved); o.Set("rotaryEmbeddingDim", l.rotaryDim); break;
      case Method::KVCacheUpdate: put("cacheMode", "KVCacheMode", l.op); break;
      case Method::Quantize: case Method::Dequantize: put("toType", "DataType", l.dtype); o.Set("axis", l.axis); break;
      case Method::DistCollective:
        put("op", "CollectiveOperation", l.op); put("reduceOp", "CollectiveReduceOperation", l.op1);
        o.Set("root", static_cast<double>(l.root)); o.Set("groups", toArray(env, l.groups));
        break;
      case Method::Shape:
      case Method::Select:
      case Method::NonZero:
        break;
    }
    layers.Set(i, o);
  }
  out.Set("layers", layers);
  auto inputs = Napi::Array::New(env, plan.inputs.size());
  for (size_t i = 0; i < plan.inputs.size(); i++) {
    const PlanInput& in = plan.inputs[i];
    auto o = Napi::Object::New(env);
    o.Set("id", in.id);
    o.Set("name", in.name);
    o.Set("dtype", enumName("DataType", in.dtype));
    o.Set("dims", toArray(env, in.dims));
    o.Set("min", toArray(env, in.min));
    o.Set("opt", toArray(env, in.opt));
    o.Set("max", toArray(env, in.max));
    inputs.Set(i, o);
  }
  out.Set("inputs", inputs);
  auto weights = Napi::Array::New(env, plan.weights.size());
  for (size_t i = 0; i < plan.weights.size(); i++) {
    const PlanWeights& w = plan.weights[i];
    auto o = Napi::Object::New(env);
    o.Set("index", w.index);
    o.Set("dtype", enumName("DataType", w.dtype));
    o.Set("shape", toArray(env, w.shape));
    o.Set("bytes", static_cast<double>(w.bytes));
    o.Set("data", Napi::Buffer<uint8_t>::Copy(env, w.data, w.bytes));
    weights.Set(i, o);
  }
  out.Set("weights", weights);
  return out;
}

}  // namespace redraft
