// SPDX-License-Identifier: GPL-2.0-or-later
// `exigrey load` input in every format it recognises (exigrey dump, the Perl
// module's db_dump text, exim_dumpdb's seen output).
#include "exigrey/dump.h"
#include "fuzz_common.h"

namespace {

class MemoryLines final : public exigrey::LineSource {
 public:
  explicit MemoryLines(std::string_view text) : text_(text) {}
  std::optional<std::string_view> next() override {
    if (text_.empty()) return std::nullopt;
    const auto nl = text_.find('\n');
    const std::string_view line = text_.substr(0, nl);
    text_ = nl == std::string_view::npos ? std::string_view() : text_.substr(nl + 1);
    ++line_;
    return line;
  }
  std::uint64_t line_number() const override { return line_; }
  const std::string& name() const override { return name_; }

 private:
  std::string_view text_;
  std::uint64_t line_ = 0;
  std::string name_ = "fuzz";
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace exigrey;
  MemoryLines lines(fuzz::as_view(data, size));
  fuzz::expect_only_exigrey_errors([&] {
    RecordReader reader(lines, DumpFormat::kAuto, [](std::string_view note) {
      if (note.find('\n') != std::string_view::npos) std::abort();
    });
    LoadedRecord r;
    while (reader.next(r)) {
      if (r.kind == LoadedRecord::Kind::kWhitelist && r.name.empty()) std::abort();
    }
  });
  return 0;
}
