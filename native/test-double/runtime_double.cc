// The TensorRT double's runtime half: createInferRuntime_INTERNAL, IRuntime, ICudaEngine and
// IExecutionContext, built from the same public headers as the builder half (double.cc).
// deserializeCudaEngine takes the double's own "engine" (the JSON record of the network) and
// refuses anything else with TensorRT's reasons: a corrupt or foreign file (the magic tag), an
// engine from another TensorRT version, or (REDRAFT_TRT_DOUBLE_FAIL=device) another GPU. The
// engine's I/O — names, dtypes, dims, the optimization profile — comes from the record.
// setInputShape checks the profile as TensorRT does; enqueueV3 checks that every input has a
// shape and every I/O tensor an address, and does NOT run the network: it fills every output with
// a checkable pattern, element i of output `name` = pattern(fnv1a32(name, i)) (floats:
// ((h % 256) - 128) / 256, exact in float16/bfloat16; integers and bool: h % 2). The double
// infers no shapes at run time: an output dim the network left dynamic is -1 in getTensorShape
// (the caller sizes it from its graph), and the fill covers the whole device allocation behind
// the address, which the CUDA-runtime double reports (redraft_cuda_double_extent).
// An output made by IKVCacheUpdateLayer (through a chain of them) from a network input must be
// bound to that input's address: NvInfer.h addKVCacheUpdate, "the user must ensure that the
// cache tensor and the corresponding output tensor share the same device memory address".
// REDRAFT_TRT_DOUBLE_FAIL=runtime,deserialize,device,context,enqueue inject failures.
#include <dlfcn.h>

#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core.hh"
#include "nccl_double.hh"
#include "rdd_generated.hh"

namespace rdd {
namespace rt {

bool faulty(const std::string& what) {
  const char* e = std::getenv("REDRAFT_TRT_DOUBLE_FAIL");
  if (!e) return false;
  std::string s = std::string(",") + e + ",";
  std::string t;
  for (char c : s)
    if (c != ' ') t += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return t.find("," + what + ",") != std::string::npos;
}

// ---- a small JSON reader (the record is the double's own output) ----------------------------
struct JV {
  enum K { Null, Bool, Num, Str, Arr, Obj } k = Null;
  double n = 0;
  bool b = false;
  std::string s;
  std::vector<JV> a;
  std::vector<std::pair<std::string, JV>> o;
  const JV* get(const std::string& key) const {
    for (auto& [kk, v] : o)
      if (kk == key) return &v;
    return nullptr;
  }
};
struct JP {
  const char* p;
  const char* e;
  bool ok = true;
  void ws() {
    while (p < e && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')) p++;
  }
  bool str(std::string& out) {
    if (p >= e || *p != '"') return ok = false;
    p++;
    while (p < e && *p != '"') {
      if (*p == '\\') {
        p++;
        if (p >= e) return ok = false;
        char c = *p++;
        if (c == 'u') {
          if (e - p < 4) return ok = false;
          unsigned v = static_cast<unsigned>(std::strtoul(std::string(p, 4).c_str(), nullptr, 16));
          p += 4;
          out += static_cast<char>(v < 0x80 ? v : '?');
        } else out += c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c == 'b' ? '\b' : c == 'f' ? '\f' : c;
      } else out += *p++;
    }
    if (p >= e) return ok = false;
    p++;
    return true;
  }
  bool val(JV& v, int depth = 0) {
    if (depth > 64) return ok = false;
    ws();
    if (p >= e) return ok = false;
    char c = *p;
    if (c == '{') {
      v.k = JV::Obj;
      p++;
      ws();
      if (p < e && *p == '}') return p++, true;
      for (;;) {
        ws();
        std::string key;
        if (!str(key)) return false;
        ws();
        if (p >= e || *p != ':') return ok = false;
        p++;
        v.o.emplace_back(std::move(key), JV{});
        if (!val(v.o.back().second, depth + 1)) return false;
        ws();
        if (p < e && *p == ',') { p++; continue; }
        if (p < e && *p == '}') return p++, true;
        return ok = false;
      }
    }
    if (c == '[') {
      v.k = JV::Arr;
      p++;
      ws();
      if (p < e && *p == ']') return p++, true;
      for (;;) {
        v.a.emplace_back();
        if (!val(v.a.back(), depth + 1)) return false;
        ws();
        if (p < e && *p == ',') { p++; continue; }
        if (p < e && *p == ']') return p++, true;
        return ok = false;
      }
    }
    if (c == '"') return v.k = JV::Str, str(v.s);
    if (e - p >= 4 && !std::strncmp(p, "null", 4)) return v.k = JV::Null, p += 4, true;
    if (e - p >= 4 && !std::strncmp(p, "true", 4)) return v.k = JV::Bool, v.b = true, p += 4, true;
    if (e - p >= 5 && !std::strncmp(p, "false", 5)) return v.k = JV::Bool, v.b = false, p += 5, true;
    if (c == '-' || (c >= '0' && c <= '9')) {
      char* end = nullptr;
      std::string num;
      while (p < e && (std::isdigit(static_cast<unsigned char>(*p)) || *p == '-' || *p == '+' || *p == '.' || *p == 'e' || *p == 'E')) num += *p++;
      v.k = JV::Num;
      v.n = std::strtod(num.c_str(), &end);
      return true;
    }
    return ok = false;
  }
};

Dims dimsOf(const JV* v) {
  Dims d{};
  if (!v || v->k != JV::Arr) {
    d.nbDims = -1;
    return d;
  }
  d.nbDims = static_cast<int32_t>(v->a.size());
  for (size_t i = 0; i < v->a.size() && i < static_cast<size_t>(Dims::MAX_DIMS); i++) d.d[i] = static_cast<int64_t>(v->a[i].n);
  return d;
}
std::string dimsStr(const Dims& d) {
  std::string s = "[";
  for (int i = 0; i < d.nbDims; i++) s += (i ? "," : "") + std::to_string(d.d[i]);
  return s + "]";
}

/** The pattern's hash: FNV-1a 32 over the name's bytes, then the index as 8 little-endian bytes. */
uint32_t patternHash(uint32_t nameHash, uint64_t i) {
  uint32_t h = nameHash;
  for (int b = 0; b < 8; b++) {
    h ^= static_cast<uint8_t>(i >> (8 * b));
    h *= 16777619u;
  }
  return h;
}
uint32_t nameHash(const std::string& s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}
uint16_t halfOf(float f) {  // exact for the pattern's values (k / 256, |k| <= 128)
  if (f == 0) return 0;
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000;
  int e = static_cast<int>((x >> 23) & 0xff) - 127 + 15;
  uint32_t man = (x & 0x7fffff) >> 13;
  return static_cast<uint16_t>(sign | (static_cast<uint32_t>(e) << 10) | man);
}
void fill(void* dst, DataType t, const std::string& name, size_t n) {
  uint32_t nh = nameHash(name);
  auto* p = static_cast<uint8_t*>(dst);
  for (size_t i = 0; i < n; i++) {
    uint32_t h = patternHash(nh, i);
    float f = (static_cast<float>(h % 256) - 128.0f) / 256.0f;
    int64_t k = h % 2;
    switch (static_cast<int>(t)) {
      case 0: std::memcpy(p + 4 * i, &f, 4); break;
      case 1: { uint16_t v = halfOf(f); std::memcpy(p + 2 * i, &v, 2); break; }
      case 7: { uint32_t x; std::memcpy(&x, &f, 4); uint16_t v = static_cast<uint16_t>(x >> 16); std::memcpy(p + 2 * i, &v, 2); break; }
      case 3: { int32_t v = static_cast<int32_t>(k); std::memcpy(p + 4 * i, &v, 4); break; }
      case 8: std::memcpy(p + 8 * i, &k, 8); break;
      default: p[i] = static_cast<uint8_t>(k); break;
    }
  }
}

struct Io {
  std::string name;
  bool input = false;
  DataType dtype{};
  Dims dims{};
  bool hasProfile = false;
  Dims min{}, opt{}, max{};
  std::string inPlaceOf;  // outputs of IKVCacheUpdateLayer: the cache input whose memory they are
};

struct Engine;

struct Context final : IExecutionContext {
  struct Impl : GenVExecutionContext {
    Context* C = nullptr;
    ICudaEngine const& getEngine() const noexcept override;
    bool setInputShape(char const* name, Dims const& dims) noexcept override;
    Dims getTensorShape(char const* name) const noexcept override;
    bool setTensorAddress(char const* name, void* data) noexcept override;
    void const* getTensorAddress(char const* name) const noexcept override {
      auto it = C->addrs.find(name ? name : "");
      return it == C->addrs.end() ? nullptr : it->second;
    }
    bool allInputDimensionsSpecified() const noexcept override;
    int32_t getOptimizationProfile() const noexcept override { return 0; }
    bool enqueueV3(cudaStream_t stream) noexcept override;
#ifdef RDD_HAS_VExecutionContext_setCommunicator
    bool setCommunicator(void* comm) noexcept override;
#endif
  } impl;
  Engine* E = nullptr;
  void* comm = nullptr;
  std::map<std::string, Dims> shapes;
  std::map<std::string, void*> addrs;
  explicit Context(Engine* e) : E(e) {
    impl.C = this;
    mImpl = &impl;
  }
};

struct Engine final : ICudaEngine {
  struct Impl : GenVCudaEngine {
    Engine* E = nullptr;
    int32_t getNbIOTensors() const noexcept override { return static_cast<int32_t>(E->io.size()); }
    char const* getIOTensorName(int32_t i) const noexcept override { return i >= 0 && i < static_cast<int32_t>(E->io.size()) ? E->io[i].name.c_str() : nullptr; }
    TensorIOMode getTensorIOMode(char const* name) const noexcept override {
      const Io* x = E->find(name);
      return !x ? TensorIOMode::kNONE : x->input ? TensorIOMode::kINPUT : TensorIOMode::kOUTPUT;
    }
    DataType getTensorDataType(char const* name) const noexcept override {
      const Io* x = E->find(name);
      return x ? x->dtype : DataType::kFLOAT;
    }
    Dims getTensorShape(char const* name) const noexcept override {
      const Io* x = E->find(name);
      return x ? x->dims : Dims{-1, {}};
    }
    bool isShapeInferenceIO(char const*) const noexcept override { return false; }
    TensorLocation getTensorLocation(char const*) const noexcept override { return TensorLocation::kDEVICE; }
    int32_t getNbOptimizationProfiles() const noexcept override { return E->profiles; }
    Dims getProfileShape(char const* name, int32_t profile, OptProfileSelector sel) const noexcept override {
      const Io* x = E->find(name);
      if (!x || !x->input || profile != 0 || !x->hasProfile) return Dims{-1, {}};
      return sel == OptProfileSelector::kMIN ? x->min : sel == OptProfileSelector::kOPT ? x->opt : x->max;
    }
    int32_t getNbLayers() const noexcept override { return E->layers; }
    char const* getName() const noexcept override { return E->name.c_str(); }
    IExecutionContext* createExecutionContext(ExecutionContextAllocationStrategy) noexcept override {
      if (faulty("context")) return E->error("ICudaEngine::createExecutionContext: Error Code 2: OutOfMemory (injected: REDRAFT_TRT_DOUBLE_FAIL=context)"), nullptr;
      return new Context(E);
    }
  } impl;
  ILogger* logger = nullptr;
  std::vector<Io> io;
  int32_t profiles = 0, layers = 0;
  // The engine's IDistCollectiveLayers: each one's group (communicator ranks).
  std::vector<std::pair<std::string, std::vector<long long>>> collectives;
  std::string name;
  explicit Engine(ILogger* l) : logger(l) {
    impl.E = this;
    mImpl = &impl;
  }
  const Io* find(const char* n) const {
    if (!n) return nullptr;
    for (auto& x : io)
      if (x.name == n) return &x;
    return nullptr;
  }
  void error(const std::string& m) const {
    if (logger) logger->log(ILogger::Severity::kERROR, m.c_str());
  }
};

ICudaEngine const& Context::Impl::getEngine() const noexcept { return *C->E; }

bool Context::Impl::setInputShape(char const* name, Dims const& d) noexcept {
  const Io* x = C->E->find(name);
  if (!x || !x->input) return C->E->error(std::string("IExecutionContext::setInputShape: Error Code 3: API Usage Error (Parameter check failed, condition: '") + (name ? name : "") + "' is an input tensor name)"), false;
  if (d.nbDims != x->dims.nbDims)
    return C->E->error("IExecutionContext::setInputShape: Error Code 3: API Usage Error (Parameter check failed, condition: dimensions.nbDims == " + std::to_string(x->dims.nbDims) + " for '" + x->name + "', supplied " + dimsStr(d) + ")"), false;
  for (int k = 0; k < d.nbDims; k++) {
    int64_t lo = x->dims.d[k] >= 0 ? x->dims.d[k] : x->hasProfile ? x->min.d[k] : 0;
    int64_t hi = x->dims.d[k] >= 0 ? x->dims.d[k] : x->hasProfile ? x->max.d[k] : INT64_MAX;
    if (d.d[k] < lo || d.d[k] > hi)
      return C->E->error("IExecutionContext::setInputShape: Error Code 3: API Usage Error (Parameter check failed, condition: profileMinDims.d[i] <= dimensions.d[i] <= profileMaxDims.d[i]. Supplied binding dimension " + dimsStr(d) + " for '" + x->name +
                         "' exceeds min ~ max range at index " + std::to_string(k) + ", maximum dimension in profile is " + std::to_string(hi) + ", minimum dimension in profile is " + std::to_string(lo) + ", but supplied dimension is " +
                         std::to_string(d.d[k]) + ".)"),
             false;
  }
  C->shapes[x->name] = d;
  return true;
}
Dims Context::Impl::getTensorShape(char const* name) const noexcept {
  const Io* x = C->E->find(name);
  if (!x) return Dims{-1, {}};
  if (x->input) {
    auto it = C->shapes.find(x->name);
    return it == C->shapes.end() ? x->dims : it->second;
  }
  return x->dims;  // no run-time shape inference: dynamic dims stay -1
}
bool Context::Impl::setTensorAddress(char const* name, void* data) noexcept {
  const Io* x = C->E->find(name);
  if (!x) return C->E->error(std::string("IExecutionContext::setTensorAddress: Error Code 3: API Usage Error (Parameter check failed, condition: '") + (name ? name : "") + "' is an I/O tensor name)"), false;
  if (!data) return C->E->error("IExecutionContext::setTensorAddress: Error Code 3: API Usage Error (Parameter check failed, condition: the address of '" + x->name + "' is not null)"), false;
  C->addrs[x->name] = data;
  return true;
}
bool Context::Impl::allInputDimensionsSpecified() const noexcept {
  for (auto& x : C->E->io)
    if (x.input && !C->shapes.count(x.name)) return false;
  return true;
}
#ifdef RDD_HAS_VExecutionContext_setCommunicator
bool Context::Impl::setCommunicator(void* comm) noexcept {
  // NvInfer.h: "expected to be already initialized with ncclCommInitRank and castable to ncclComm_t".
  auto* c = static_cast<NcclDoubleComm*>(comm);
  if (!c || c->magic != kNcclDoubleMagic)
    return C->E->error("IExecutionContext::setCommunicator: Error Code 3: API Usage Error (the communicator is not an initialized ncclComm_t (redraft TensorRT double: only the NCCL double's communicators are understood))"), false;
  C->comm = comm;
  return true;
}
#endif
bool Context::Impl::enqueueV3(cudaStream_t) noexcept {
  Engine& E = *C->E;
  auto fail = [&](const std::string& m) { return E.error("IExecutionContext::enqueueV3: Error Code 3: API Usage Error (" + m + ")"), false; };
  if (faulty("enqueue")) return fail("injected: REDRAFT_TRT_DOUBLE_FAIL=enqueue");
  // An engine with DistCollective layers runs only with a communicator holding every rank of their groups.
  for (auto& [name, group] : E.collectives) {
    auto* c = static_cast<NcclDoubleComm*>(C->comm);
    if (!c) return fail("IDistCollectiveLayer '" + name + "' needs an NCCL communicator: call IExecutionContext::setCommunicator before enqueueV3");
    for (long long r : group)
      if (r >= c->nranks) return fail("IDistCollectiveLayer '" + name + "' has rank " + std::to_string(r) + " in its group, the communicator only " + std::to_string(c->nranks) + " ranks");
  }
  using Extent = bool (*)(const void*, size_t*);
  auto extent = reinterpret_cast<Extent>(dlsym(RTLD_DEFAULT, "redraft_cuda_double_extent"));
  for (auto& x : E.io) {
    auto a = C->addrs.find(x.name);
    if (a == C->addrs.end()) return fail("no address was set for '" + x.name + "' (setTensorAddress)");
    if (!x.input) continue;
    auto s = C->shapes.find(x.name);
    if (s == C->shapes.end() && volume(x.dims) < 0) return fail("the shape of input '" + x.name + "' was not set (setInputShape)");
    size_t need = static_cast<size_t>(volume(s == C->shapes.end() ? x.dims : s->second)) * elemSize(x.dtype), have = 0;
    if (extent && need > 0 && (!extent(a->second, &have) || have < need))
      return fail("input '" + x.name + "' needs " + std::to_string(need) + " bytes at its address, the device allocation there holds " + std::to_string(have) + " (redraft TensorRT double)");
  }
  for (auto& x : E.io)
    if (!x.input && !x.inPlaceOf.empty() && C->addrs[x.name] != C->addrs[x.inPlaceOf])
      return fail("IKVCacheUpdateLayer output '" + x.name + "' must share the device memory of its cache input '" + x.inPlaceOf + "' (setTensorAddress of both to one address; NvInfer.h addKVCacheUpdate updates in place)");
  for (auto& x : E.io) {
    if (x.input) continue;
    void* p = C->addrs[x.name];
    int64_t v = volume(x.dims);
    size_t have = 0;
    bool known = extent && extent(p, &have);
    if (v >= 0) {
      size_t need = static_cast<size_t>(v) * elemSize(x.dtype);
      if (extent && need > 0 && (!known || have < need)) return fail("output '" + x.name + "' needs " + std::to_string(need) + " bytes, the device allocation at its address holds " + std::to_string(have));
      fill(p, x.dtype, x.name, static_cast<size_t>(v));
    } else {
      if (!known) return fail("output '" + x.name + "' has dynamic dims and its address is not memory of the CUDA-runtime double (the TensorRT double sizes dynamic outputs from the allocation)");
      fill(p, x.dtype, x.name, have / elemSize(x.dtype));
    }
  }
  return true;
}

struct Runtime final : IRuntime {
  struct Impl : GenVRuntime {
    Runtime* R = nullptr;
    ICudaEngine* deserializeCudaEngine(void const* blob, std::size_t size) noexcept override;
    ILogger* getLogger() const noexcept override { return R->logger; }
  } impl;
  ILogger* logger = nullptr;
  explicit Runtime(ILogger* l) : logger(l) {
    impl.R = this;
    mImpl = &impl;
  }
};

ICudaEngine* Runtime::Impl::deserializeCudaEngine(void const* blob, std::size_t size) noexcept {
  ILogger* log = R->logger;
  auto err = [&](const std::string& m) -> ICudaEngine* {
    if (log) log->log(ILogger::Severity::kERROR, m.c_str());
    return nullptr;
  };
  const char* magic = "{\"double\":\"redraft-trt-double\"";
  if (!blob || size < std::strlen(magic) || std::memcmp(blob, magic, std::strlen(magic)) != 0)
    return err("IRuntime::deserializeCudaEngine: Error Code 1: Serialization (Serialization assertion magicTagRead == kMAGIC_TAG failed.Magic tag does not match: not an engine of this TensorRT (redraft TensorRT double))");
  JV rec;
  JP jp{static_cast<const char*>(blob), static_cast<const char*>(blob) + size};
  if (!jp.val(rec) || rec.k != JV::Obj) return err("IRuntime::deserializeCudaEngine: Error Code 1: Serialization (the engine plan is truncated or corrupt (redraft TensorRT double))");
  std::string mine = std::to_string(NV_TENSORRT_MAJOR) + "." + std::to_string(NV_TENSORRT_MINOR) + "." + std::to_string(NV_TENSORRT_PATCH);
  const JV* h = rec.get("headers");
  std::string theirs = h && h->k == JV::Str ? h->s : "?";
  if (theirs != mine)
    return err("IRuntime::deserializeCudaEngine: Error Code 6: API Usage Error (The engine plan file is not compatible with this version of TensorRT, expecting library version " + mine + " got " + theirs + ", please rebuild.)");
  if (faulty("device"))
    return err("IRuntime::deserializeCudaEngine: Error Code 6: API Usage Error (The engine plan file is generated on an incompatible device, expecting compute 0.0 got compute 0.0, please rebuild. (redraft TensorRT double, REDRAFT_TRT_DOUBLE_FAIL=device))");
  if (faulty("deserialize")) return err("IRuntime::deserializeCudaEngine: Error Code 1: Serialization (injected: REDRAFT_TRT_DOUBLE_FAIL=deserialize)");
  auto eng = std::make_unique<Engine>(log);
  const JV* prof = nullptr;
  if (const JV* ps = rec.get("profiles"); ps && ps->k == JV::Arr) {
    eng->profiles = static_cast<int32_t>(ps->a.size());
    if (!ps->a.empty()) prof = &ps->a[0];
  }
  std::map<long long, const JV*> tensors;
  if (const JV* ins = rec.get("inputs"))
    for (const JV& t : ins->a) {
      Io x;
      x.name = t.get("name") ? t.get("name")->s : "";
      x.input = true;
      x.dtype = static_cast<DataType>(static_cast<int>(t.get("dtype") ? t.get("dtype")->n : 0));
      x.dims = dimsOf(t.get("dims"));
      if (const JV* p = prof ? prof->get(x.name) : nullptr; p && p->get("max")) {
        x.min = dimsOf(p->get("min"));
        x.opt = dimsOf(p->get("opt"));
        x.max = dimsOf(p->get("max"));
        x.hasProfile = x.max.nbDims == x.dims.nbDims;
      }
      tensors[static_cast<long long>(t.get("id") ? t.get("id")->n : -1)] = &t;
      eng->io.push_back(x);
    }
  std::map<long long, const JV*> producer;
  if (const JV* ls = rec.get("layers")) {
    eng->layers = static_cast<int32_t>(ls->a.size());
    for (const JV& l : ls->a)
      if (const JV* os = l.get("outputs"))
        for (const JV& t : os->a) {
          long long id = static_cast<long long>(t.get("id") ? t.get("id")->n : -1);
          tensors[id] = &t;
          producer[id] = &l;
        }
    for (const JV& l : ls->a)
      if (const JV* m = l.get("method"); m && m->s == "addDistCollective") {
        std::vector<long long> g;
        if (const JV* p = l.get("params"))
          if (const JV* gs = p->get("groups"))
            for (const JV& x : gs->a) g.push_back(static_cast<long long>(x.n));
        eng->collectives.emplace_back(l.get("name") ? l.get("name")->s : "", g);
      }
  }
  std::map<long long, std::string> inputNames;
  if (const JV* ins = rec.get("inputs"))
    for (const JV& t : ins->a) inputNames[static_cast<long long>(t.get("id") ? t.get("id")->n : -1)] = t.get("name") ? t.get("name")->s : "";
  // The network input an IKVCacheUpdateLayer output updates in place (following chained updates).
  auto cacheOf = [&](long long id) -> std::string {
    bool viaUpdate = false;
    for (int hops = 0; hops < 64; hops++) {
      auto p = producer.find(id);
      if (p == producer.end()) return viaUpdate && inputNames.count(id) ? inputNames[id] : "";
      const JV* m = p->second->get("method");
      const JV* in = p->second->get("inputs");
      if (!m || m->s != "addKVCacheUpdate" || !in || in->a.empty()) return "";
      viaUpdate = true;
      id = static_cast<long long>(in->a[0].n);
    }
    return "";
  };
  if (const JV* os = rec.get("outputs"))
    for (const JV& o : os->a) {
      Io x;
      x.name = o.get("name") ? o.get("name")->s : "";
      auto it = tensors.find(static_cast<long long>(o.get("id") ? o.get("id")->n : -1));
      if (it == tensors.end()) return err("IRuntime::deserializeCudaEngine: Error Code 1: Serialization (output '" + x.name + "' names no tensor of the engine (redraft TensorRT double))");
      x.dtype = static_cast<DataType>(static_cast<int>(it->second->get("dtype") ? it->second->get("dtype")->n : 0));
      x.dims = dimsOf(it->second->get("dims"));
      x.inPlaceOf = cacheOf(static_cast<long long>(o.get("id") ? o.get("id")->n : -1));
      eng->io.push_back(x);
    }
  if (const JV* n = rec.get("name"); n && n->k == JV::Str) eng->name = n->s;
  return eng.release();
}

}  // namespace rt
}  // namespace rdd

extern "C" {
__attribute__((visibility("default"))) int redraft_trt_double_runtime = 1;  // "this is the double", for redraft doctor
__attribute__((visibility("default"))) void* createInferRuntime_INTERNAL(void* logger, int32_t version) noexcept {
  auto* log = static_cast<nvinfer1::ILogger*>(logger);
  int32_t mine = NV_TENSORRT_VERSION;
  if (version / 10000 != mine / 10000 || version / 100 > mine / 100) {
    if (log) {
      std::string m = "createInferRuntime: the caller was compiled against TensorRT " + std::to_string(version / 10000) + "." + std::to_string((version / 100) % 100) + " headers, this library is " +
                      std::to_string(mine / 10000) + "." + std::to_string((mine / 100) % 100);
      log->log(nvinfer1::ILogger::Severity::kERROR, m.c_str());
    }
    return nullptr;
  }
  if (rdd::rt::faulty("runtime")) return nullptr;
  return static_cast<nvinfer1::IRuntime*>(new rdd::rt::Runtime(log));
}
}
