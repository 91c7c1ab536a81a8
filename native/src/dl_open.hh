// Finding a dlopen'ed library (the CUDA runtime, NCCL): the candidates in order, the first one
// that loads and has what the caller needs wins; every name tried and why each failed are kept
// for the message a user sees.
#pragma once
#include <dlfcn.h>

#include <cstdlib>
#include <initializer_list>
#include <string>
#include <vector>

namespace redraft {

/** The libraries to try, in order: the caller's path, then $envVar, then the usual names. */
inline std::vector<std::string> libraryCandidates(const std::string& explicitPath, const char* envVar, std::initializer_list<const char*> defaults) {
  std::vector<std::string> names;
  if (!explicitPath.empty()) names.push_back(explicitPath);
  if (const char* e = std::getenv(envVar))
    if (*e) names.push_back(e);
  for (const char* n : defaults) names.push_back(n);
  return names;
}

/**
 * dlopen's `names` in order (RTLD_GLOBAL: TensorRT and its runners find the same library) until
 * `accept(handle, name)` takes one, and returns it (null when none did). Every name goes to
 * `tried`; why each failed goes to `errors` ("; "-separated), `accept` adding its own reasons.
 */
template <class Accept>
void* dlopenFirst(const std::vector<std::string>& names, std::vector<std::string>& tried, std::string& errors, Accept accept) {
  for (const auto& n : names) {
    tried.push_back(n);
    void* h = dlopen(n.c_str(), RTLD_NOW | RTLD_GLOBAL);
    if (!h) {
      const char* e = dlerror();
      errors += (errors.empty() ? "" : "; ") + std::string(e ? e : n + ": not found");
      continue;
    }
    if (accept(h, n)) return h;
    dlclose(h);
  }
  return nullptr;
}

}  // namespace redraft
