#pragma once
// Deterministic model output: prose of an exact token count under the emulator's tokenizer, drawn
// from a seed. The same seed and count give the same text on every machine (SplitMix64, no
// standard-library distributions), so a test can predict a response byte for byte.
//
// Thread safety: pure functions.

#include <cstdint>
#include <string>
#include <vector>

namespace quotaflow::emulator {

// SplitMix64: a tiny, fast, well-mixed generator whose sequence is fixed by its seed.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t Next();
  // Uniform in [0, 1).
  double NextDouble();
  // Uniform in [0, bound). REQUIRES: bound > 0.
  uint64_t Below(uint64_t bound);
  // Standard normal (Box-Muller).
  double NextNormal();

 private:
  uint64_t state_;
};

// Mixes values into one seed (order matters).
uint64_t MixSeed(uint64_t a, uint64_t b);
// A stable 64-bit hash of bytes (FNV-1a), for seeding from request contents.
uint64_t HashBytes(std::string_view bytes);

// Text of exactly `tokens` tokens (CountTokens(text) == tokens; empty for tokens <= 0): sentences
// of short English words. With `token_ends`, also the end offset of every token in the text, so
// that a stream can cut it into deltas on token boundaries.
std::string GenerateText(uint64_t seed, int64_t tokens,
                         std::vector<uint32_t>* token_ends = nullptr);

}  // namespace quotaflow::emulator
