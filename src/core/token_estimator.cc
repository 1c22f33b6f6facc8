#include "quotaflow/token_estimator.h"

#include <algorithm>
#include <cmath>

namespace quotaflow {
namespace {

// Strips an ARN down to its resource id and a geography prefix (`us.`, `global.`, …).
std::string_view BaseModelId(std::string_view id) {
  if (id.starts_with("arn:")) {
    size_t slash = id.rfind('/');
    if (slash != std::string_view::npos) id = id.substr(slash + 1);
  }
  for (std::string_view geo : {"us-gov.", "us.", "eu.", "apac.", "jp.", "au.", "ca.", "global."}) {
    if (id.starts_with(geo)) return id.substr(geo.size());
  }
  return id;
}

// English-like text averages ~4 characters per token on most tokenizers; Claude's tokenizer splits
// finer. These lean low (more tokens), so the first, uncalibrated reservations err on the safe
// side.
double CharsPerToken(ModelFamily f) {
  switch (f) {
    case ModelFamily::kAnthropic:
      return 3.3;
    case ModelFamily::kAmazonNova:
      return 3.8;
    case ModelFamily::kAmazonTitan:
      return 4.0;
    case ModelFamily::kMetaLlama:
      return 3.8;
    case ModelFamily::kMistral:
      return 3.4;
    case ModelFamily::kCohere:
    case ModelFamily::kAi21:
      return 3.8;
    case ModelFamily::kOther:
      return 3.3;
  }
  return 3.3;
}

}  // namespace

ModelFamily FamilyOf(std::string_view model_id) {
  std::string_view id = BaseModelId(model_id);
  if (id.starts_with("anthropic.")) return ModelFamily::kAnthropic;
  if (id.starts_with("amazon.nova")) return ModelFamily::kAmazonNova;
  if (id.starts_with("amazon.titan")) return ModelFamily::kAmazonTitan;
  if (id.starts_with("meta.")) return ModelFamily::kMetaLlama;
  if (id.starts_with("mistral.")) return ModelFamily::kMistral;
  if (id.starts_with("cohere.")) return ModelFamily::kCohere;
  if (id.starts_with("ai21.")) return ModelFamily::kAi21;
  return ModelFamily::kOther;
}

int64_t CalibratingTokenEstimator::Heuristic(ModelFamily family, std::string_view text) {
  // Non-ASCII code points (CJK, accents, emoji) cost about a token each; count them apart from
  // ASCII, whose density the family ratio describes.
  int64_t ascii = 0, other = 0;
  for (unsigned char c : text) {
    if (c < 0x80) {
      ++ascii;
    } else if ((c & 0xC0) != 0x80) {
      ++other;  // a UTF-8 lead byte: one code point
    }
  }
  double tokens = static_cast<double>(ascii) / CharsPerToken(family) + static_cast<double>(other);
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(tokens)));
}

double CalibratingTokenEstimator::Calibration::Factor(const CalibrationConfig& config) const {
  return mean + std::max(config.sigma_bias * std::sqrt(variance), config.min_margin * mean);
}

TokenEstimate CalibratingTokenEstimator::Estimate(std::string_view model_id,
                                                  std::string_view text) {
  return Priced(Heuristic(FamilyOf(model_id), text), Factor(model_id));
}

TokenEstimate CalibratingTokenEstimator::Priced(int64_t heuristic, double factor) {
  TokenEstimate e;
  e.heuristic = heuristic;
  e.tokens = std::max<int64_t>(
      1, static_cast<int64_t>(std::ceil(static_cast<double>(e.heuristic) * factor)));
  return e;
}

double CalibratingTokenEstimator::Factor(std::string_view model_id) const {
  std::lock_guard lock(mu_);
  auto it = by_model_.find(std::string(model_id));
  return it == by_model_.end() ? 1.0 : it->second.Factor(config_);
}

void CalibratingTokenEstimator::Observe(std::string_view model_id, const TokenEstimate& estimate,
                                        int64_t actual) {
  if (estimate.heuristic <= 0 || actual <= 0) return;
  const double ratio = static_cast<double>(actual) / static_cast<double>(estimate.heuristic);
  std::lock_guard lock(mu_);
  Calibration& c = by_model_[std::string(model_id)];
  ++c.count;
  // Plain average while warming up, then exponential weighting (West's incremental variance).
  const double alpha = std::max(config_.alpha, 1.0 / static_cast<double>(c.count));
  if (c.count == 1) {
    c.mean = ratio;
    c.variance = 0.0;
    return;
  }
  const double delta = ratio - c.mean;
  c.mean += alpha * delta;
  c.variance = (1.0 - alpha) * (c.variance + alpha * delta * delta);
}

}  // namespace quotaflow
