/* FlickrHub web UI: progressive enhancement only; every page works without it.
 *
 * - Copy buttons (clipboard API, else select the text and say how to copy it).
 * - Forms show that they are busy while the next page loads.
 * - The dashboard refreshes itself from /ui/dashboard.json every 2 seconds.
 *
 * Data from the server is only ever put in the page as text (textContent, DOM
 * nodes): never as HTML. No inline code anywhere, so the CSP stays 'self'. */
(function () {
  "use strict";

  var POLL_MS = 2000;

  function setText(el, text) {
    if (el && el.textContent !== text) {
      el.textContent = text;
    }
  }

  function make(tag, className, text) {
    var el = document.createElement(tag);
    if (className) {
      el.className = className;
    }
    if (text !== undefined && text !== null) {
      el.textContent = String(text);
    }
    return el;
  }

  /* Announce in a live region: cleared first so the same words are read again. */
  function announce(region, text) {
    if (!region) {
      return;
    }
    region.textContent = "";
    window.setTimeout(function () {
      region.textContent = text;
    }, 50);
  }

  /* --- copy buttons ------------------------------------------------------------- */

  function selectContents(el) {
    if (el.tagName === "INPUT" || el.tagName === "TEXTAREA") {
      el.focus();
      el.select();
      return;
    }
    var range = document.createRange();
    range.selectNodeContents(el);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function legacyCopy(el) {
    selectContents(el);
    try {
      return document.execCommand("copy");
    } catch (err) {
      return false;
    }
  }

  function copyFrom(el) {
    var text = el.tagName === "INPUT" ? el.value : el.textContent;
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).then(
        function () { return true; },
        function () { return legacyCopy(el); }
      );
    }
    return Promise.resolve(legacyCopy(el));
  }

  function setupCopyButtons() {
    var status = document.querySelector("[data-copy-status]");
    Array.prototype.forEach.call(document.querySelectorAll("[data-copy-target]"), function (button) {
      var target = document.getElementById(button.getAttribute("data-copy-target"));
      if (!target) {
        return;
      }
      button.hidden = false;
      button.addEventListener("click", function () {
        copyFrom(target).then(function (copied) {
          if (copied) {
            button.setAttribute("data-copied", "true");
            announce(status, "Copied to the clipboard.");
          } else {
            selectContents(target);
            announce(status, "Selected: press Ctrl+C (Cmd+C on a Mac) to copy.");
          }
        });
      });
    });
  }

  /* --- forms -------------------------------------------------------------------- */

  function setupBusyForms() {
    Array.prototype.forEach.call(document.querySelectorAll("form[data-busy-label]"), function (form) {
      form.addEventListener("submit", function (event) {
        var button = form.querySelector("button[type=submit]");
        if (!button) {
          return;
        }
        if (button.getAttribute("aria-disabled") === "true") {
          event.preventDefault(); /* already on its way */
          return;
        }
        button.setAttribute("data-label", button.textContent);
        button.setAttribute("aria-disabled", "true");
        button.textContent = form.getAttribute("data-busy-label");
        form.setAttribute("aria-busy", "true");
      });
    });
    /* Back/forward cache: a page shown again must not keep a busy button. */
    window.addEventListener("pageshow", function () {
      Array.prototype.forEach.call(document.querySelectorAll("button[data-label]"), function (button) {
        button.textContent = button.getAttribute("data-label");
        button.removeAttribute("data-label");
        button.removeAttribute("aria-disabled");
      });
      Array.prototype.forEach.call(document.querySelectorAll("form[aria-busy]"), function (form) {
        form.removeAttribute("aria-busy");
      });
    });
  }

  function focusProblem() {
    var problem = document.querySelector("[data-focus-on-load]");
    if (problem) {
      problem.focus();
    }
  }

  /* --- the dashboard ------------------------------------------------------------ */

  var COLUMNS = [
    ["state", ""],
    ["id", ""],
    ["target", ""],
    ["method", "mono"],
    ["params", "mono params"],
    ["created", ""],
    ["duration", "num"],
    ["error", "error-text"]
  ];

  function valueAt(data, path) {
    return path.split(".").reduce(function (value, key) {
      return value === null || value === undefined ? value : value[key];
    }, data);
  }

  function jobLink(template, id) {
    return template.replace("JOB_ID", encodeURIComponent(id));
  }

  function buildRow(job, linkTemplate) {
    var tr = make("tr");
    tr.setAttribute("data-job-id", job.id);
    COLUMNS.forEach(function (column) {
      var td = make("td", column[1]);
      td.setAttribute("data-col", column[0]);
      tr.appendChild(td);
    });
    var badge = make("span", "state");
    var icon = make("span", "state-icon");
    icon.setAttribute("aria-hidden", "true");
    badge.appendChild(icon);
    badge.appendChild(document.createTextNode(" "));
    badge.appendChild(make("span", "state-text"));
    var stateCell = tr.querySelector('[data-col="state"]');
    stateCell.appendChild(badge);
    stateCell.appendChild(document.createTextNode(" "));
    stateCell.appendChild(make("span", "state-note"));
    var link = make("a", "mono", job.short_id);
    link.href = jobLink(linkTemplate, job.id);
    tr.querySelector('[data-col="id"]').appendChild(link);
    tr.querySelector('[data-col="created"]').appendChild(make("time"));
    return tr;
  }

  function fillRow(tr, job) {
    var changed = tr.getAttribute("data-state") !== job.state;
    tr.setAttribute("data-state", job.state);
    var badge = tr.querySelector('[data-col="state"] .state');
    badge.className = "state state-" + job.state;
    setText(badge.querySelector(".state-icon"), job.icon);
    setText(badge.querySelector(".state-text"), job.state_label);
    setText(tr.querySelector('[data-col="state"] .state-note'), job.state_note);
    setText(tr.querySelector('[data-col="target"]'), job.target);
    setText(tr.querySelector('[data-col="method"]'), job.method);
    setText(tr.querySelector('[data-col="params"]'), job.params);
    var time = tr.querySelector('[data-col="created"] time');
    time.setAttribute("datetime", job.created_at);
    setText(time, job.created);
    setText(tr.querySelector('[data-col="duration"]'), job.duration);
    setText(tr.querySelector('[data-col="error"]'), job.error);
    return changed;
  }

  function renderJobs(tbody, jobs, linkTemplate, filtered) {
    var existing = {};
    Array.prototype.forEach.call(tbody.querySelectorAll("tr[data-job-id]"), function (tr) {
      existing[tr.getAttribute("data-job-id")] = tr;
    });
    var wanted = {};
    jobs.forEach(function (job) { wanted[job.id] = true; });
    Array.prototype.forEach.call(tbody.children, function (tr) {
      var id = tr.getAttribute("data-job-id");
      if (!id || !wanted[id]) {
        tr.setAttribute("data-stale", "true");
      }
    });
    Array.prototype.forEach.call(tbody.querySelectorAll("tr[data-stale]"), function (tr) {
      tbody.removeChild(tr);
    });
    if (!jobs.length) {
      var row = make("tr", "empty-row");
      var cell = make("td", "", filtered ? "No jobs match these filters." : "No jobs yet.");
      cell.colSpan = COLUMNS.length;
      row.appendChild(cell);
      tbody.appendChild(row);
      return;
    }
    jobs.forEach(function (job, index) {
      var tr = existing[job.id];
      var isNew = !tr;
      if (isNew) {
        tr = buildRow(job, linkTemplate);
      }
      var changed = fillRow(tr, job);
      var at = tbody.children[index];
      if (at !== tr) {
        tbody.insertBefore(tr, at || null);
      }
      if (changed && !isNew) {
        tr.classList.remove("changed");
        void tr.offsetWidth; /* restart the highlight */
        tr.classList.add("changed");
      }
    });
  }

  function renderQueues(tbody, queues) {
    while (tbody.firstChild) {
      tbody.removeChild(tbody.firstChild);
    }
    queues.forEach(function (queue) {
      var tr = make("tr");
      var th = make("th", "", queue.target);
      th.scope = "row";
      tr.appendChild(th);
      tr.appendChild(make("td", "num", queue.depth === null ? "unavailable" : queue.depth));
      tbody.appendChild(tr);
    });
  }

  function render(root, data) {
    setText(document.getElementById("live-summary"), data.summary.text);
    var updated = document.getElementById("updated-at");
    if (updated) {
      updated.setAttribute("datetime", data.generated_at);
      setText(updated, data.generated_text);
    }
    Array.prototype.forEach.call(root.querySelectorAll("[data-field]"), function (el) {
      var value = valueAt(data, el.getAttribute("data-field"));
      var missing = el.getAttribute("data-missing") || "unavailable";
      setText(el, value === null || value === undefined ? missing : String(value));
    });
    renderQueues(document.getElementById("queue-rows"), data.queues);
    var filtered = Boolean(data.filters.state || data.filters.target);
    renderJobs(document.getElementById("job-rows"), data.jobs, root.getAttribute("data-job-url"), filtered);
  }

  function problemOf(status, body) {
    var message = null;
    if (body && body.error && typeof body.error.message === "string") {
      message = body.error.message;
    }
    if (status === 401) {
      return "Signed out: reload the page to sign in again.";
    }
    return "Live updates failed (" + (message || "the server answered HTTP " + status) + "); retrying.";
  }

  function setupDashboard() {
    var root = document.getElementById("dashboard");
    if (!root) {
      return;
    }
    var url = root.getAttribute("data-json-url") + window.location.search;
    var errorBox = document.getElementById("live-error");
    var toggle = document.getElementById("live-toggle");
    var paused = false;
    var timer = null;

    function showProblem(text) {
      if (!errorBox) {
        return;
      }
      if (text) {
        setText(errorBox, text);
        errorBox.hidden = false;
      } else if (!errorBox.hidden) {
        errorBox.hidden = true;
        errorBox.textContent = "";
      }
    }

    function schedule() {
      window.clearTimeout(timer);
      timer = window.setTimeout(poll, POLL_MS);
    }

    function poll() {
      if (paused || document.hidden) {
        schedule();
        return;
      }
      fetch(url, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
        cache: "no-store"
      }).then(function (response) {
        return response.json().then(
          function (body) { return { status: response.status, body: body }; },
          function () { return { status: response.status, body: null }; }
        );
      }).then(function (answer) {
        if (answer.status === 200 && answer.body && answer.body.data) {
          render(root, answer.body.data);
          showProblem(null);
          root.setAttribute("data-refreshed", answer.body.data.generated_at);
        } else {
          showProblem(problemOf(answer.status, answer.body));
        }
      }, function () {
        showProblem("Live updates failed (the server did not answer); retrying.");
      }).then(schedule);
    }

    if (toggle) {
      toggle.hidden = false;
      toggle.addEventListener("click", function () {
        paused = !paused;
        toggle.setAttribute("aria-pressed", paused ? "true" : "false");
        if (!paused) {
          poll();
        }
      });
    }
    root.setAttribute("data-live", "true");
    schedule();
  }

  function start() {
    setupCopyButtons();
    setupBusyForms();
    focusProblem();
    setupDashboard();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
