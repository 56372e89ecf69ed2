/* Account pages (/account/...): static shells that talk to the checkout API.
 * The API lives at <html data-api>; every call sends JSON with the session cookie.
 * Messages shown to shoppers are Chinese; the API's own message is the fallback. */
(function () {
  "use strict";

  var API = (document.documentElement.dataset.api || "/api").replace(/\/$/, "");
  var MESSAGES = {
    invalid_credentials: "邮箱或密码不正确。",
    not_activated: "账户尚未激活，请先点击激活邮件中的链接。",
    rate_limited: "尝试次数过多，请稍后再试。",
    invalid_token: "链接无效或已使用。",
    token_expired: "链接已过期，请重新申请。",
    forbidden_origin: "请求来源不被允许，请从本站页面操作。",
    consent_required: "隐私政策已更新，请先阅读并同意。",
    guardian_consent_required: "需要监护人同意后才能继续。",
    policy_outdated: "隐私政策已更新，请刷新页面后重新确认。",
    policies_unavailable: "暂时无法注册，请稍后再试。",
    unauthorized: "请先登录。",
    internal_error: "服务器出错，请稍后再试。",
    network: "网络连接失败，请检查网络后重试。"
  };

  /* Logged out, asking the API can only answer 401 (a console error in browsers): the service sets a
   * readable "sf_signed_in" hint cookie beside the HttpOnly session. It is only visible when the API
   * is on this origin; with an API elsewhere, ask anyway. */
  function maybeSignedIn() {
    if (/^https?:/.test(API) && API.indexOf(location.origin + "/") !== 0) return true;
    return /(?:^|;\s*)sf_signed_in=1/.test(document.cookie);
  }

  function call(method, path, body) {
    var init = { method: method, credentials: "include", headers: { "Content-Type": "application/json" } };
    if (body !== undefined) init.body = JSON.stringify(body);
    return fetch(API + path, init).then(function (res) {
      if (res.status === 204) return { ok: true, status: 204, data: null };
      return res.json().catch(function () { return {}; }).then(function (data) {
        return { ok: res.ok, status: res.status, data: data, retryAfter: res.headers.get("Retry-After") };
      });
    }, function () {
      return { ok: false, status: 0, data: { error: { code: "network", message: MESSAGES.network } } };
    });
  }

  function chinese(error, retryAfter) {
    if (!error) return MESSAGES.internal_error;
    var text = MESSAGES[error.code];
    if (!text) text = (error.message || "").split("。")[0] + "。";
    if (error.code === "rate_limited" && retryAfter) text += "（约 " + Math.ceil(retryAfter / 60) + " 分钟后）";
    return text;
  }

  function $(sel, root) { return (root || document).querySelector(sel); }
  function $all(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }

  function say(text, kind) {
    var box = $("[data-account-message]");
    if (!box) return;
    box.textContent = text;
    box.className = "notice" + (kind ? " notice-" + kind : "");
    box.hidden = !text;
  }

  function clearErrors(form) {
    $all("[data-field-error]", form).forEach(function (p) { p.hidden = true; p.textContent = ""; });
  }

  function showError(form, result) {
    var error = result.data && result.data.error;
    var text = chinese(error, result.retryAfter);
    var field = error && error.field ? error.field.split(/[.\[]/)[0] : null;
    var slot = field && form ? $('[data-field-error="' + field + '"]', form) : null;
    if (slot) {
      slot.textContent = text;
      slot.hidden = false;
      var input = form.elements[field];
      if (input && input.focus) input.focus();
      say("");
    } else {
      say(text, "error");
    }
  }

  function values(form) {
    var out = {};
    $all("input, select, textarea", form).forEach(function (el) {
      if (!el.name || el.type === "checkbox" || el.type === "submit") return;
      out[el.name] = el.value.trim();
    });
    return out;
  }

  function tokenFromUrl() {
    var token = new URLSearchParams(location.search).get("token");
    // Keep the token out of history and Referer headers once read.
    if (token && history.replaceState) history.replaceState(null, "", location.pathname);
    return token;
  }

  function todayIn(timeZone) {
    var parts = new Intl.DateTimeFormat("en-CA", { timeZone: timeZone, year: "numeric", month: "2-digit", day: "2-digit" })
      .formatToParts(new Date());
    var get = function (t) { return parts.filter(function (p) { return p.type === t; })[0].value; };
    return get("year") + "-" + get("month") + "-" + get("day");
  }

  /* The policy version in force today, decided here (not at build time) like the service does. */
  function policyInForce() {
    return fetch("/policies.json", { credentials: "same-origin" }).then(function (res) { return res.json(); })
      .then(function (doc) {
        var today = todayIn(doc.timezone || "Asia/Shanghai");
        var current = null;
        doc.versions.forEach(function (v) { if (v.effective <= today && (!current || v.effective > current.effective)) current = v; });
        return current;
      });
  }

  function ageOn(birthday) {
    var b = birthday.split("-").map(Number), now = new Date();
    var age = now.getFullYear() - b[0];
    if (now.getMonth() + 1 < b[1] || (now.getMonth() + 1 === b[1] && now.getDate() < b[2])) age -= 1;
    return age;
  }

  function busy(form, on) { $all("button", form).forEach(function (b) { b.disabled = on; }); }

  var pages = {};

  pages.login = function () {
    var form = $('[data-account-form="login"]');
    form.addEventListener("submit", function (ev) {
      ev.preventDefault(); clearErrors(form); busy(form, true);
      var v = values(form);
      call("POST", "/session", { email: v.email, password: v.password }).then(function (r) {
        busy(form, false);
        if (r.ok) { location.href = "/account/"; } else { showError(form, r); }
      });
    });
  };

  pages.register = function () {
    var form = $('[data-account-form="register"]');
    var policy = null;
    policyInForce().then(function (p) {
      policy = p;
      if (p) $("[data-policy-link]").href = p.url;
    }, function () { say(MESSAGES.policies_unavailable, "error"); });
    var birthday = form.elements.birthday, guardian = $("[data-guardian-field]");
    birthday.addEventListener("change", function () {
      guardian.hidden = !(birthday.value && ageOn(birthday.value) < 18);
    });
    form.addEventListener("submit", function (ev) {
      ev.preventDefault(); clearErrors(form);
      if (!form.elements.accept.checked) {
        var slot = $('[data-field-error="policy_version"]', form);
        slot.textContent = "请阅读并同意隐私政策。"; slot.hidden = false; return;
      }
      if (!policy) { say(MESSAGES.policies_unavailable, "error"); return; }
      var v = values(form);
      var body = { nickname: v.nickname, email: v.email, password: v.password, policy_version: policy.id };
      if (v.birthday) body.birthday = v.birthday;
      if (!guardian.hidden && v.guardian_email) body.guardian_email = v.guardian_email;
      busy(form, true);
      call("POST", "/accounts", body).then(function (r) {
        busy(form, false);
        if (!r.ok) { showError(form, r); return; }
        form.hidden = true;
        say("注册申请已提交。请查收发往 " + v.email + " 的激活邮件，点击其中的链接完成注册" +
            (r.data.guardian_consent_required ? "；我们也已请您的监护人确认。" : "。"), "success");
      });
    });
  };

  pages.activate = function () {
    var token = tokenFromUrl();
    if (!token) { say("链接不完整，请直接点击邮件中的链接。", "error"); return; }
    call("POST", "/accounts/activate", { token: token }).then(function (r) {
      if (!r.ok) { showError(null, r); return; }
      say(r.data.status === "pending_guardian_consent"
        ? "账户已激活。监护人同意后即可下单。" : "账户已激活，现在可以登录了。", "success");
      $("[data-account-next]").hidden = false;
    });
  };

  pages.guardian = function () {
    var token = tokenFromUrl(), form = $('[data-account-form="guardian"]');
    if (!token) { say("链接不完整，请直接点击邮件中的链接。", "error"); form.hidden = true; return; }
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var decision = ev.submitter ? ev.submitter.value : "consent";
      busy(form, true);
      call("POST", "/accounts/guardian-consent", { token: token, decision: decision }).then(function (r) {
        busy(form, false);
        if (!r.ok) { showError(null, r); return; }
        form.hidden = true;
        say(decision === "refuse" ? "已拒绝，该账户及其个人信息已删除。" : "谢谢，您已同意。", "success");
      });
    });
  };

  pages.reset = function () {
    var token = tokenFromUrl();
    var ask = $('[data-account-form="reset-request"]'), confirm = $('[data-account-form="reset-confirm"]');
    if (token) { ask.hidden = true; confirm.hidden = false; }
    ask.addEventListener("submit", function (ev) {
      ev.preventDefault(); clearErrors(ask); busy(ask, true);
      call("POST", "/password-reset", { email: values(ask).email }).then(function (r) {
        busy(ask, false);
        if (!r.ok) { showError(ask, r); return; }
        ask.hidden = true;
        say("如果该邮箱已注册，我们已发送重置密码的邮件，请查收。", "success");
      });
    });
    confirm.addEventListener("submit", function (ev) {
      ev.preventDefault(); clearErrors(confirm); busy(confirm, true);
      call("POST", "/password-reset/confirm", { token: token, password: values(confirm).password }).then(function (r) {
        busy(confirm, false);
        if (!r.ok) { showError(confirm, r); return; }
        confirm.hidden = true;
        say("密码已更新，请用新密码登录。", "success");
      });
    });
  };

  pages.index = function () {
    var form = $('[data-account-form="profile"]');
    function fill(me) {
      $("[data-logged-in]").hidden = false;
      $('[data-profile="email"]').textContent = me.email || "";
      form.elements.nickname.value = me.nickname || "";
      form.elements.phone.value = me.phone || "";
      form.elements.birthday.value = me.birthday || "";
      var a = me.addresses[0] || {};
      ["name", "phone", "country", "province", "city", "line1", "line2", "postal_code"].forEach(function (k) {
        form.elements["addr." + k].value = a[k] || "";
      });
      $("[data-guardian-pending]").hidden = me.status !== "pending_guardian_consent";
      var needed = me.consent && me.consent.required;
      $("[data-consent-needed]").hidden = !needed;
      if (needed) $("[data-consent-link]").href = "/privacy/" + me.consent.required_version + "/";
      $("[data-consent-accept]").onclick = function () {
        call("POST", "/me/consents", { policy_version: me.consent.required_version }).then(function (r) {
          if (r.ok) { $("[data-consent-needed]").hidden = true; say("已同意新版隐私政策。", "success"); }
          else showError(null, r);
        });
      };
    }
    (maybeSignedIn() ? call("GET", "/me") : Promise.resolve({ ok: false, status: 401, data: {} })).then(function (r) {
      if (r.status === 401) { $("[data-logged-out]").hidden = false; return; }
      if (!r.ok) { showError(null, r); return; }
      fill(r.data);
    });
    form.addEventListener("submit", function (ev) {
      ev.preventDefault(); clearErrors(form);
      var v = values(form), address = {}, any = false;
      Object.keys(v).forEach(function (k) {
        if (k.indexOf("addr.") === 0) { if (v[k]) { address[k.slice(5)] = v[k]; any = true; } }
      });
      var body = { nickname: v.nickname, phone: v.phone || null, addresses: any ? [address] : [] };
      if (v.birthday) body.birthday = v.birthday;
      busy(form, true);
      call("PATCH", "/me", body).then(function (r) {
        busy(form, false);
        if (!r.ok) { showError(form, r); return; }
        fill(r.data); say("已保存。", "success");
      });
    });
    $("[data-export]").addEventListener("click", function () {
      call("GET", "/me/export").then(function (r) {
        if (!r.ok) { showError(null, r); return; }
        var blob = new Blob([JSON.stringify(r.data, null, 2)], { type: "application/json" });
        var link = document.createElement("a");
        link.href = URL.createObjectURL(blob); link.download = "umegou-my-data.json";
        document.body.appendChild(link); link.click(); link.remove();
      });
    });
    $("[data-logout]").addEventListener("click", function () {
      call("DELETE", "/session").then(function () { location.href = "/account/login/"; });
    });
    var del = $('[data-account-form="delete"]');
    del.addEventListener("submit", function (ev) {
      ev.preventDefault(); clearErrors(del);
      if (!window.confirm("确定要注销账户吗？此操作不能撤销。")) return;
      call("DELETE", "/me", { password: values(del).password }).then(function (r) {
        if (!r.ok) { showError(del, r); return; }
        $("[data-logged-in]").hidden = true;
        say("账户已注销，您的个人信息已删除。", "success");
      });
    });
  };

  document.addEventListener("DOMContentLoaded", function () {
    var root = $("[data-account-page]");
    if (root && pages[root.dataset.accountPage]) pages[root.dataset.accountPage]();
  });
})();
