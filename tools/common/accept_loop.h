// SPDX-License-Identifier: GPL-2.0-or-later
// common/accept_loop.h: the accept loop every listener of the daemons runs.
//
// A listener's state (`Self`, held by shared_ptr) has an `acceptor`, an
// `accept_retry` timer and a `stopped` flag, and a member function that
// takes each accepted socket. A failed accept (EMFILE when descriptors run
// out, ENOBUFS, ...) is logged and retried after kAcceptRetry rather than at
// once, so running out of descriptors never turns into a busy loop that
// floods the log. Closing the acceptor or setting `stopped` ends the loop.
//
// Thread safety: on the io_context's thread, like the listener itself.
#pragma once

#include <asio.hpp>
#include <chrono>
#include <memory>
#include <string_view>

#include "common/log.h"

namespace exigrey::daemon {

inline constexpr auto kAcceptRetry = std::chrono::milliseconds(100);

// `name` names the listener in the log ("plain", "web", ...): a literal.
template <typename Self>
void accept_loop(std::shared_ptr<Self> self, std::string_view name,
                 void (Self::*take)(asio::ip::tcp::socket)) {
  self->acceptor.async_accept([self, name, take](std::error_code ec, asio::ip::tcp::socket s) {
    if (self->stopped || ec == asio::error::operation_aborted) return;
    if (ec) {
      LOG_WARNING("{}: accept failed: {}", name, ec.message());
      self->accept_retry.expires_after(kAcceptRetry);
      self->accept_retry.async_wait([self, name, take](std::error_code e) {
        if (!e && !self->stopped) accept_loop(self, name, take);
      });
      return;
    }
    ((*self).*take)(std::move(s));
    accept_loop(self, name, take);
  });
}

}  // namespace exigrey::daemon
