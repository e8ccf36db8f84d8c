// SPDX-License-Identifier: GPL-2.0-or-later
#include "exigrey/listing_index.h"

#include <algorithm>

namespace exigrey {

ListingIndex::ListingIndex(unsigned shards)
    : shards_(std::max(shards, 1U)), files_(6 * std::size_t{shards_}) {}

unsigned ListingIndex::shard_of(const Subject& subject) const noexcept {
  if (shards_ == 1) return 0;
  // FNV-1a, stable across runs and builds, then MurmurHash3's finaliser:
  // FNV's low bits alone spread similar addresses badly.
  std::uint32_t h = 2166136261U;
  for (char c : subject.text) {
    h ^= static_cast<unsigned char>(c);
    h *= 16777619U;
  }
  h ^= h >> 16;
  h *= 0x85ebca6bU;
  h ^= h >> 13;
  h *= 0xc2b2ae35U;
  h ^= h >> 16;
  return h % shards_;
}

std::size_t ListingIndex::size(Verb list, ZoneFileKind kind) const noexcept {
  std::size_t n = 0;
  for (unsigned s = 0; s < shards_; ++s) n += files_[slot(list, kind, s)].size();
  return n;
}

ZoneFileKind ListingIndex::kind_of(const Subject& subject) noexcept {
  switch (subject.kind) {
    case SubjectKind::kIPv4:
      return ZoneFileKind::kIp4;
    case SubjectKind::kIPv6:
      return ZoneFileKind::kIp6;
    case SubjectKind::kDomain:
      break;
  }
  return ZoneFileKind::kNames;
}

void ListingIndex::count(const Listing& l, int delta) noexcept {
  by_rule_[static_cast<std::size_t>(l.rule)] += delta;
}

std::uint64_t ListingIndex::black_by(Rule rule) const noexcept {
  const std::int64_t n = by_rule_[static_cast<std::size_t>(rule)];
  return n > 0 ? static_cast<std::uint64_t>(n) : 0;
}

std::size_t ListingIndex::size(Verb list) const noexcept {
  std::size_t n = 0;
  for (ZoneFileKind k : {ZoneFileKind::kIp4, ZoneFileKind::kIp6, ZoneFileKind::kNames}) {
    n += size(list, k);
  }
  return n;
}

void ListingIndex::set(Verb list, const Subject& subject, const Listing* now,
                       std::vector<Change>& changes) {
  auto& file = files_[slot(list, subject)];
  const auto it = file.find(subject.text);
  const bool black = list == Verb::kBlack;
  if (it == file.end()) {
    if (now == nullptr) return;
    file.emplace(subject.text, *now);
    if (black) count(*now, 1);
    changes.push_back(Change{list, std::nullopt, *now});
    return;
  }
  if (now != nullptr && it->second == *now) return;
  Change c{list, std::move(it->second), std::nullopt};
  if (black) count(*c.before, -1);
  if (now == nullptr) {
    file.erase(it);
  } else {
    it->second = *now;
    if (black) count(*now, 1);
    c.after = *now;
  }
  changes.push_back(std::move(c));
}

std::vector<ListingIndex::Change> ListingIndex::update(std::span<const Subject> evaluated,
                                                       std::span<const Listing> black,
                                                       std::span<const Listing> white) {
  std::vector<Change> changes;
  // Lookups by subject among the (few) new listings.
  std::unordered_map<std::string, const Listing*> nb, nw;
  for (const Listing& l : black) nb.emplace(index_key(l.subject), &l);
  for (const Listing& l : white) nw.emplace(index_key(l.subject), &l);
  for (const Subject& s : evaluated) {
    const std::string k = index_key(s);
    const auto b = nb.find(k);
    const auto w = nw.find(k);
    set(Verb::kBlack, s, b == nb.end() ? nullptr : b->second, changes);
    set(Verb::kWhite, s, w == nw.end() ? nullptr : w->second, changes);
  }
  return changes;
}

std::vector<ListingIndex::Change> ListingIndex::replace(std::span<const Listing> black,
                                                        std::span<const Listing> white) {
  std::vector<Change> changes;
  for (Verb list : {Verb::kBlack, Verb::kWhite}) {
    const std::size_t first = slot(list, ZoneFileKind::kIp4, 0);
    std::vector<std::map<std::string, Listing>> next(3 * std::size_t{shards_});
    for (const Listing& l : list == Verb::kBlack ? black : white) {
      next[slot(list, l.subject) - first].emplace(l.subject.text, l);
    }
    for (std::size_t k = 0; k < next.size(); ++k) {
      auto& old = files_[first + k];
      // Both maps are in key order: one merge finds every difference.
      auto i = old.begin();
      auto j = next[k].begin();
      while (i != old.end() || j != next[k].end()) {
        if (j == next[k].end() || (i != old.end() && i->first < j->first)) {
          changes.push_back(Change{list, i->second, std::nullopt});
          ++i;
        } else if (i == old.end() || j->first < i->first) {
          changes.push_back(Change{list, std::nullopt, j->second});
          ++j;
        } else {
          if (!(i->second == j->second)) changes.push_back(Change{list, i->second, j->second});
          ++i;
          ++j;
        }
      }
      old.swap(next[k]);
    }
  }
  by_rule_ = {};
  for (std::size_t k = 0; k < 3 * std::size_t{shards_}; ++k) {
    for (const auto& [text, l] : files_[k]) count(l, 1);
  }
  return changes;
}

std::vector<Listing> ListingIndex::listings(Verb list) const {
  std::vector<Listing> out;
  out.reserve(size(list));
  for (ZoneFileKind k : {ZoneFileKind::kIp4, ZoneFileKind::kIp6, ZoneFileKind::kNames}) {
    const std::size_t start = out.size();
    for (unsigned s = 0; s < shards_; ++s) {
      for (const auto& [text, l] : file(list, k, s)) out.push_back(l);
    }
    if (shards_ > 1) {  // text order, as with one shard
      std::sort(out.begin() + static_cast<std::ptrdiff_t>(start), out.end(),
                [](const Listing& a, const Listing& b) { return a.subject.text < b.subject.text; });
    }
  }
  return out;
}

std::string index_key(const Subject& s) {
  return std::string(1, static_cast<char>(s.kind)) + s.text;
}

void ExpiryIndex::set(const Subject& subject, std::optional<UnixTime> at) {
  std::string key = index_key(subject);
  const auto it = at_.find(key);
  if (it != at_.end()) {
    if (at && *at == it->second) return;
    order_.erase({it->second, key});
    if (!at) {
      at_.erase(it);
      return;
    }
    it->second = *at;
    order_.emplace(*at, std::move(key));
    return;
  }
  if (!at) return;
  at_.emplace(key, *at);
  order_.emplace(*at, std::move(key));
}

void ExpiryIndex::clear() {
  at_.clear();
  order_.clear();
}

std::vector<Subject> ExpiryIndex::due(UnixTime now) {
  std::vector<Subject> out;
  while (!order_.empty() && order_.begin()->first <= now) {
    auto node = order_.extract(order_.begin());
    const std::string& key = node.value().second;
    out.push_back(Subject{static_cast<SubjectKind>(key[0]), key.substr(1)});
    at_.erase(key);
  }
  return out;
}

std::optional<UnixTime> ExpiryIndex::earliest() const {
  if (order_.empty()) return std::nullopt;
  return order_.begin()->first;
}

}  // namespace exigrey
