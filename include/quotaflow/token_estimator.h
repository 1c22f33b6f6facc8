#pragma once
// Input-token estimates, before a request is sent: the limiter must reserve `input + max_tokens`
// up front, exactly as Bedrock does, but only the response tells the true input count. A heuristic
// per model family gives the first guess; every response calibrates it for that model.

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace quotaflow {

enum class ModelFamily {
  kAnthropic,
  kAmazonNova,
  kAmazonTitan,
  kMetaLlama,
  kMistral,
  kCohere,
  kAi21,
  kOther
};

// The family of a model id, inference-profile id (`us.…`, `global.…`) or ARN.
ModelFamily FamilyOf(std::string_view model_id);

struct TokenEstimate {
  int64_t tokens = 0;     // what to reserve: the calibrated estimate
  int64_t heuristic = 0;  // the family heuristic before calibration; pass back to Observe
};

// Thread safety: implementations are safe from many threads.
class TokenEstimator {
 public:
  virtual ~TokenEstimator() = default;
  // Input tokens of the whole prompt `text` for `model_id`.
  virtual TokenEstimate Estimate(std::string_view model_id, std::string_view text) = 0;
  // A response arrived for a prompt estimated as `estimate`. `actual` is the whole prompt as
  // Bedrock counts it: input + cache read + cache write (Converse's inputTokens excludes cached
  // tokens, so it alone would teach the estimator to under-reserve).
  virtual void Observe(std::string_view model_id, const TokenEstimate& estimate,
                       int64_t actual) = 0;
};

struct CalibrationConfig {
  // Weight of each new observation once past the warm-up (the first 1/alpha observations are
  // averaged plainly, so the first few dozen responses already converge).
  double alpha = 0.1;
  // Estimates are raised by this many standard deviations of the observed ratio: over-reserving a
  // little costs nothing at settlement, under-reserving risks a throttle.
  double sigma_bias = 1.0;
  // ...and by at least this fraction of the mean. The ratio drifts with a prompt's size and
  // varies between prompts of one size (throughput_bench's contracts: actual/heuristic averages
  // 0.765 under 1,000 tokens and 0.780 over 10,000, and reaches 0.79), and short prompts finish
  // first: a calibration learnt from them alone, however tight, would under-count some longer ones
  // by up to 3%, which a server counting whole minutes charges at once.
  double min_margin = 0.04;
};

// The default estimator: a characters-per-token heuristic per family, calibrated per model by an
// exponentially weighted mean of actual / heuristic with a conservative bias.
class CalibratingTokenEstimator final : public TokenEstimator {
 public:
  explicit CalibratingTokenEstimator(CalibrationConfig config = {}) : config_(config) {}

  TokenEstimate Estimate(std::string_view model_id, std::string_view text) override;
  void Observe(std::string_view model_id, const TokenEstimate& estimate, int64_t actual) override;

  // The family heuristic alone.
  static int64_t Heuristic(ModelFamily family, std::string_view text);
  // The current multiplier for a model (1 before any observation).
  double Factor(std::string_view model_id) const;
  // A heuristic priced at a model's factor: Estimate is Priced(Heuristic(text), Factor(model)), and
  // a prompt whose heuristic was taken earlier is priced again from its heuristic alone.
  static TokenEstimate Priced(int64_t heuristic, double factor);

 private:
  struct Calibration {
    int64_t count = 0;
    double mean = 1.0;
    double variance = 0.0;
    double Factor(const CalibrationConfig& config) const;
  };

  const CalibrationConfig config_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Calibration> by_model_;  // GUARDED_BY(mu_)
};

}  // namespace quotaflow
