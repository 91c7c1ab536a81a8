// A TensorRT call plan decoded from JavaScript (builders/trt/plan.ts) into the structures the
// network builder replays. Enum values mirror NvInfer.h; with the headers present they are
// checked against TensorRT's own enums at compile time (trt_build.cc).
#pragma once
#include <napi.h>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace redraft {

enum class Method { Constant, Shape, Shuffle, Concatenation, GatherV2, Slice, ElementWise, Unary, Activation, MatrixMultiply, SoftMax, TopK, Reduce, Select, Fill, Cumulative, Cast, Scatter, NonZero,
  // Fused layers (builders/trt/plan.ts emits them only for a TensorRT version that has them):
  // IAttention (addAttention 10.14, addAttentionV2 11.0), IRotaryEmbeddingLayer and IKVCacheUpdateLayer (10.15).
  Attention, AttentionV2, RotaryEmbedding, KVCacheUpdate,
  // Three-argument addQuantize/addDequantize (10.0+), addDistCollective (10.16+).
  Quantize, Dequantize, DistCollective };

// Name tables: TensorRT enum name -> value (as in NvInfer.h).
const std::map<std::string, int>& enumTable(const std::string& kind);
std::string enumName(const std::string& kind, int value);

struct PlanWeights {
  int index = 0;
  int dtype = 0;  // DataType value
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // zero-copy view into the JS ArrayBuffer
  size_t bytes = 0;
  int64_t count = 0;  // elements (Weights::count; kINT4 packs two per byte)
};

struct PlanInput {
  int id = 0;
  std::string name;
  int dtype = 0;
  std::vector<int64_t> dims, min, opt, max;
  // Shape-tensor inputs: the values' min/opt/max (setShapeValuesV2), when the plan gives them.
  bool hasShapeValues = false;
  std::vector<int64_t> valuesMin, valuesOpt, valuesMax;
};

struct PlanLayer {
  Method method{};
  std::string methodName, name;
  std::string site;               // the user's file:line, when the plan carries it
  std::vector<int> outputDtypes;  // DataType per output (-1 when the plan does not say)
  std::vector<int> inputs, outputs;
  // Parameters (only those of the method are set).
  int op = 0;  // ElementWise/Unary/Activation/Reduce/TopK/Gather/Scatter/Slice mode, Cast/Fill type
  int op1 = 0;  // MatrixMultiply second operand
  int axis = 0, nbElementWiseDims = 0, k = 0, weights = -1, dtype = 0;
  uint32_t axesMask = 0;
  bool keepDims = false, zeroIsPlaceholder = true, exclusive = false, reverse = false, hasReshape = false;
  // Attention: op = AttentionNormalizationOp, causal (addAttention) or causalKind (op1, addAttentionV2);
  // RotaryEmbedding: interleaved, rotaryDim; KVCacheUpdate: op = KVCacheMode.
  bool causal = false, decomposable = false, interleaved = false;
  int rotaryDim = 0;
  // Quantize/Dequantize: dtype = output type, axis. DistCollective: op, op1 = ReduceOperation, root, groups.
  int64_t root = -1;
  std::vector<int64_t> groups;
  double alpha = 0, beta = 0, fillValue = 0;
  std::vector<int64_t> dims, first, second, start, size, stride;
  // Run-time shape tensors fed with setInput (-1 when static).
  int dimsInput = -1, startInput = -1, sizeInput = -1, strideInput = -1;
};

struct Plan {
  std::string name;
  std::vector<PlanInput> inputs;
  std::vector<PlanLayer> layers;
  std::vector<std::pair<int, std::string>> outputs;
  std::vector<PlanWeights> weights;
};

// Bytes per element of a TensorRT DataType (kFP8/kINT8/kUINT8/kBOOL: 1).
size_t dataTypeSize(int dtype);
// Bytes of `count` weights of a DataType (kINT4: two per byte).
uint64_t weightBytes(int dtype, uint64_t count);
// Decodes and validates a plan (ranks <= 8, permutations, weight byte counts, tensor ids);
// throws Napi::Error naming the layer on any malformed entry.
Plan decodePlan(const Napi::Object& plan);
// The decoded structures back as JS objects (enums by name, weights as byte copies).
Napi::Object describePlan(Napi::Env env, const Plan& plan);

}  // namespace redraft
