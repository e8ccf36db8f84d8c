// SPDX-License-Identifier: GPL-2.0-or-later
// dump, load: the store as text (docs/internals-dump.md), for backup,
// restore and migration from Exim::Grey or Exim's `seen` database.
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "commands.h"
#include "exigrey/dump.h"
#include "exigrey/error.h"
#include "exigrey/fd.h"

namespace exigrey::cli {
namespace {

int run_dump(Context& ctx) {
  const Store store = ctx.open_read();
  dump_store(store, [&](std::string_view line) { ctx.out.write(line); });
  return kExitOk;
}

struct LoadArgs {
  std::string file = "-";
  std::string format = "auto";
};

// Closes the file it opened (not stdin).
class InputFile {
 public:
  explicit InputFile(const std::string& name) {
    if (name == "-") return;
    owned_.reset(::open(name.c_str(), O_RDONLY | O_CLOEXEC));
    if (!owned_.valid()) {
      const int err = errno;
      if (err == ENOENT) throw NotFound(fmt::format("exigrey: {} does not exist", name));
      throw Error(ErrorKind::kStore,
                  fmt::format("exigrey: cannot open {}: {}", name, std::strerror(err)));
    }
  }
  int fd() const { return owned_.valid() ? owned_.get() : STDIN_FILENO; }

 private:
  Fd owned_;
};

constexpr std::uint64_t kMaxWarnings = 5;

int run_load(Context& ctx, const LoadArgs& a) {
  LoadOptions opts;
  opts.format = parse_dump_format(a.format);
  InputFile input(a.file);  // before the store: a wrong file name creates nothing
  FdLineSource source(input.fd(), a.file == "-" ? std::string("stdin") : a.file);
  std::uint64_t warnings = 0;
  opts.warn = [&](std::string_view w) {
    if (++warnings <= kMaxWarnings)
      std::fprintf(stderr, "%.*s\n", static_cast<int>(w.size()), w.data());
  };
  const Store store = ctx.open_write(/*create=*/true);
  const LoadResult r = load_dump(store, source, opts);
  if (r.skipped > kMaxWarnings) {
    std::fprintf(stderr, "exigrey: load: %llu records skipped in all (the first %llu shown)\n",
                 static_cast<unsigned long long>(r.skipped),
                 static_cast<unsigned long long>(kMaxWarnings));
  }
  if (ctx.out.json()) {
    ctx.out.json_line(JsonObject()
                          .add("summary", "load")
                          .add("format", to_string(r.format))
                          .add("items", r.loaded.items)
                          .add("whitelist", r.loaded.whitelist)
                          .add("skipped", r.skipped));
  } else {
    ctx.out.line(fmt::format("load: {} items and {} whitelist entries loaded into {} (format {}{})",
                             r.loaded.items, r.loaded.whitelist, store.path(), to_string(r.format),
                             r.skipped ? fmt::format(", {} records skipped", r.skipped) : ""));
  }
  return kExitOk;
}

}  // namespace

void add_dump_commands(CLI::App& app, Commands& commands) {
  {
    CLI::App* c = app.add_subcommand(
        "dump", "Write the whole store as text to stdout (lossless; see exigrey(1), DUMP FORMAT)");
    commands.push_back({c, [](Context& ctx) { return run_dump(ctx); }});
  }
  {
    auto a = std::make_shared<LoadArgs>();
    CLI::App* c = app.add_subcommand(
        "load",
        "Load records from an exigrey dump, an Exim::Grey db_dump or Exim's exim_dumpdb seen "
        "output; same names are replaced, others kept");
    c->add_option("file", a->file, "the input (default: stdin)")->type_name("FILE");
    c->add_option("--format", a->format, "auto (default), exigrey, exim-grey or exim-seen")
        ->type_name("FORMAT");
    commands.push_back({c, [a](Context& ctx) { return run_load(ctx, *a); }});
  }
}

}  // namespace exigrey::cli
