// SPDX-License-Identifier: GPL-2.0-or-later
#include <catch2/catch.hpp>
#include <set>

#include "exigrey/error.h"
#include "exigrey/outbox.h"
#include "exigrey/store.h"
#include "support/child.h"
#include "support/temp_dir.h"

using namespace exigrey;

namespace {
Report black(std::string_view subject, UnixTime t = 100, std::string note = {}) {
  return Report{Verb::kBlack, parse_subject(subject), std::move(note), t};
}
}  // namespace

TEST_CASE("Reports come out in order, intact, until removed", "[outbox]") {
  test::TempDir dir;
  Outbox box(Outbox::path_in(dir.path()));
  CHECK(Outbox::path_in("/x/") == "/x/outbox");
  CHECK(box.append(black("192.0.2.1", 10, "virus")) == 1);
  CHECK(box.append(Report{Verb::kWhite, parse_subject("2001:db8::1"), "", 11}) == 2);
  CHECK(box.append(black("example.com", 12)) == 3);
  auto all = box.peek(10);
  REQUIRE(all.size() == 3);
  CHECK(all[0].seq == 1);
  CHECK(all[0].report == black("192.0.2.1", 10, "virus"));
  CHECK(all[1].report.verb == Verb::kWhite);
  CHECK(all[2].report.subject.kind == SubjectKind::kDomain);
  CHECK(box.peek(1, 1).at(0).seq == 2);
  const OutboxStats s = box.stats();
  CHECK(s.pending == 3);
  CHECK(s.black == 2);
  CHECK(s.white == 1);
  CHECK(s.oldest == 10);
  const OutboxStats quick = box.summary();
  CHECK(quick.pending == 3);
  CHECK(quick.oldest == 10);
  CHECK(quick.next_seq == 4);
  const std::uint64_t acked[] = {1, 3, 99};
  CHECK(box.remove(acked) == 2);
  CHECK(box.peek(10).size() == 1);
  // Sequence numbers are never reused, even after the queue empties.
  const std::uint64_t rest[] = {2};
  box.remove(rest);
  CHECK(box.append(black("192.0.2.9")) == 4);
}

TEST_CASE("remove_upto removes exactly the acknowledged prefix", "[outbox]") {
  test::TempDir dir;
  Outbox box(Outbox::path_in(dir.path()));
  for (int i = 1; i <= 6; ++i) box.append(black("192.0.2." + std::to_string(i), i));
  CHECK(box.remove_upto(0) == 0);
  CHECK(box.remove_upto(4) == 4);
  CHECK(box.peek(10).front().seq == 5);
  CHECK(box.remove_upto(4) == 0);
  CHECK(box.remove_upto(100) == 2);
  CHECK(box.peek(10).empty());
  CHECK(box.stats().next_seq == 7);
  CHECK(box.summary().pending == 0);
  CHECK_FALSE(box.summary().oldest);
}

TEST_CASE("At the bound the oldest reports are dropped and counted", "[outbox]") {
  test::TempDir dir;
  Outbox box(Outbox::path_in(dir.path()), OutboxOptions{.max_pending = 3});
  for (int i = 1; i <= 5; ++i) box.append(black("192.0.2." + std::to_string(i), i));
  const auto left = box.peek(10);
  REQUIRE(left.size() == 3);
  CHECK(left.front().seq == 3);
  CHECK(left.back().seq == 5);
  CHECK(box.stats().dropped == 2);
  CHECK(box.stats().pending == 3);
  CHECK(box.summary().pending == 3);  // the dropped counter is a meta record, not a report
  CHECK(box.summary().oldest == 3);
}

TEST_CASE("Appends from several processes get distinct sequence numbers", "[outbox]") {
  test::TempDir dir;
  const std::string path = Outbox::path_in(dir.path());
  constexpr int kProcs = 4, kEach = 200;
  std::vector<pid_t> pids;
  for (int p = 0; p < kProcs; ++p) {
    pids.push_back(test::spawn_child([&] {
      Outbox box(path);
      for (int i = 0; i < kEach; ++i) box.append(black("192.0.2." + std::to_string(p + 1), i));
    }));
  }
  for (pid_t pid : pids) REQUIRE(test::wait_child(pid) == 0);
  Outbox box(path);
  const auto all = box.peek(10000);
  CHECK(all.size() == kProcs * kEach);
  std::set<std::uint64_t> seqs;
  for (const auto& e : all) seqs.insert(e.seq);
  CHECK(seqs.size() == all.size());
  CHECK(*seqs.rbegin() == kProcs * kEach);
}

TEST_CASE("An outbox and a greylist store cannot be confused", "[outbox]") {
  test::TempDir dir;
  Outbox box(dir.file("seen"));
  box.append(black("192.0.2.1"));
  // A fresh process opening the outbox file as a greylist store is refused.
  const int status = test::run_child([&] {
    try {
      Outbox(dir.file("x")).stats();
      Store(dir.file("seen")).open();
      return 1;
    } catch (const StoreError& e) {
      return e.kind() == ErrorKind::kCorrupt ? 0 : 2;
    } catch (...) {
      return 3;
    }
  });
  CHECK(status == 0);
}
