// The recording core of redraft's TensorRT double: the call log and the JSON encoding of
// call arguments that the generated interface boilerplate (gen.mjs) uses.
#pragma once
#include <NvInfer.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

namespace rdd {
using namespace nvinfer1;

/** Elements of a shape; -1 while a dim is still unknown (-1). */
inline int64_t volume(const Dims& d) {
  int64_t v = 1;
  for (int i = 0; i < d.nbDims; i++) {
    if (d.d[i] < 0) return -1;
    v *= d.d[i];
  }
  return v;
}
/** Bytes per element, by the numeric DataType values both 10.x and 11.x headers give these types. */
inline size_t elemSize(DataType t) {
  switch (static_cast<int>(t)) {
    case 0: case 3: return 4;
    case 1: case 7: return 2;
    case 8: return 8;
    default: return 1;
  }
}

/** One builder's record: every call made on the objects it created, in order. */
struct Rec {
  std::mutex m;
  std::vector<std::string> calls;
  int unimplemented = 0;
};

inline std::string jstr(const char* s) {
  if (!s) return "null";
  std::string o = "\"";
  for (const char* p = s; *p; p++) {
    unsigned char c = static_cast<unsigned char>(*p);
    if (c == '"' || c == '\\') { o += '\\'; o += static_cast<char>(c); }
    else if (c < 0x20) { char b[8]; std::snprintf(b, sizeof b, "\\u%04x", c); o += b; }
    else o += static_cast<char>(c);
  }
  return o + "\"";
}
inline std::string jstr(const std::string& s) { return jstr(s.c_str()); }
inline std::string jnum(double v) {
  if (!std::isfinite(v)) return std::isnan(v) ? "\"NaN\"" : v > 0 ? "\"Infinity\"" : "\"-Infinity\"";
  char b[40];
  std::snprintf(b, sizeof b, "%.17g", v);
  return b;
}
inline std::string jdims(const Dims& d) {
  if (d.nbDims < 0) return "null";
  std::string o = "[";
  for (int i = 0; i < d.nbDims && i < Dims::MAX_DIMS; i++) o += (i ? "," : "") + std::to_string(d.d[i]);
  return o + "]";
}

int tensorId(const ITensor* t);  // defined by the double

/** An argument as JSON: numbers, enums (their values), strings, Dims, tensors (their ids). */
template <class T>
std::string J(const T& v) {
  using U = std::decay_t<T>;
  if constexpr (std::is_same_v<U, bool>) return v ? "true" : "false";
  else if constexpr (std::is_enum_v<U>) return std::to_string(static_cast<long long>(v));
  else if constexpr (std::is_integral_v<U>) return std::to_string(v);
  else if constexpr (std::is_floating_point_v<U>) return jnum(static_cast<double>(v));
  else if constexpr (std::is_same_v<U, const char*> || std::is_same_v<U, char*>) return jstr(v);
  else if constexpr (std::is_same_v<U, Dims>) return jdims(v);
  else if constexpr (std::is_same_v<U, Permutation>) {
    std::string o = "[";
    for (int i = 0; i < Dims::MAX_DIMS; i++) o += (i ? "," : "") + std::to_string(v.order[i]);
    return o + "]";
  } else if constexpr (std::is_same_v<U, Weights>) return "{\"type\":" + std::to_string(static_cast<int>(v.type)) + ",\"count\":" + std::to_string(v.count) + "}";
  else if constexpr (std::is_same_v<U, ITensor>) return "{\"tensor\":" + std::to_string(tensorId(&v)) + "}";
  else if constexpr (std::is_same_v<U, ITensor*> || std::is_same_v<U, const ITensor*>) return v ? "{\"tensor\":" + std::to_string(tensorId(v)) + "}" : "null";
  else if constexpr (std::is_pointer_v<U>) return v ? "\"ptr\"" : "null";
  else return "\"?\"";
}

inline std::string args() { return "[]"; }
template <class A, class... R>
std::string args(const A& a, const R&... r) {
  std::string o = "[" + J(a);
  ((o += "," + J(r)), ...);
  return o + "]";
}

inline void call(Rec* rec, const char* iface, int id, const char* method, const std::string& a, bool generic) {
  if (!rec) return;
  std::lock_guard<std::mutex> l(rec->m);
  rec->calls.push_back("{\"i\":\"" + std::string(iface) + "\",\"o\":" + std::to_string(id) + ",\"m\":\"" + method + "\",\"a\":" + a +
                       (generic ? ",\"unimplemented\":true}" : "}"));
  if (generic) rec->unimplemented++;
}

template <class X, class = void>
struct complete : std::false_type {};
template <class X>
struct complete<X, decltype(void(sizeof(X)))> : std::true_type {};

/** The value an unimplemented method returns: zero / empty / null (references: a static default). */
template <class T>
T dflt() {
  if constexpr (std::is_void_v<T>) return;
  else if constexpr (std::is_reference_v<T>) {
    using B = std::remove_cv_t<std::remove_reference_t<T>>;
    if constexpr (complete<B>::value) {
      if constexpr (std::is_default_constructible_v<B>) {
        static B b{};
        return b;
      } else {
        std::fprintf(stderr, "redraft TensorRT double: an unimplemented method returning a reference was called\n");
        std::abort();
      }
    } else {
      std::fprintf(stderr, "redraft TensorRT double: an unimplemented method returning a reference was called\n");
      std::abort();
    }
  } else return T{};
}

}  // namespace rdd
