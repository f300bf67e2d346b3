// The chat, over /ws/chat/: every element with data-chat is one conversation view. Messages are
// kept by id and redrawn when they change (a tool call finishing, a step of progress); the highest
// change number seen (seq) is where a reconnecting socket resumes, so nothing is lost.
(function () {
  "use strict";
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const FINAL_CLOSE = new Set([4401, 4403, 4404]);
  const storeKey = "aipress-chat:" + location.host;

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // Text with its web addresses as links; never HTML from the server.
  function withLinks(text) {
    const fragment = document.createDocumentFragment();
    const pattern = /https?:\/\/[^\s<>"“”]+/g;
    let last = 0;
    for (const match of text.matchAll(pattern)) {
      fragment.append(document.createTextNode(text.slice(last, match.index)));
      const link = element("a", "", match[0]);
      link.href = match[0];
      link.rel = "noopener";
      fragment.append(link);
      last = match.index + match[0].length;
    }
    fragment.append(document.createTextNode(text.slice(last)));
    return fragment;
  }

  function Chat(root) {
    this.root = root;
    this.log = root.querySelector(".chat-log");
    this.status = root.querySelector(".chat-status");
    this.form = root.querySelector(".chat-form");
    this.input = this.form.querySelector("textarea");
    this.full = root.dataset.full === "1";
    this.conversation = root.dataset.conversation || (this.full ? "" : localStorage.getItem(storeKey) || "");
    this.seq = 0;
    this.items = new Map();
    this.streaming = null;
    this.outbox = [];
    this.retry = 500;
    this.form.addEventListener("submit", (event) => { event.preventDefault(); this.sendText(); });
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); this.sendText(); }
    });
    this.connect();
  }

  Chat.prototype.connect = function () {
    const query = this.conversation ? `?conversation=${this.conversation}&after=${this.seq}` : "";
    this.socket = new WebSocket(`${scheme}://${location.host}/ws/chat/${query}`);
    this.socket.addEventListener("open", () => {
      this.retry = 500;
      this.say("");
      this.root.dataset.connected = "1";
      while (this.outbox.length) this.socket.send(this.outbox.shift());
    });
    this.socket.addEventListener("message", (event) => this.receive(JSON.parse(event.data)));
    this.socket.addEventListener("close", (event) => {
      delete this.root.dataset.connected;
      if (FINAL_CLOSE.has(event.code)) {
        this.say(event.code === 4401 ? "Sign in again to chat." : "This chat is not available to you here.");
        if (event.code === 4404 && this.conversation && !this.full) {
          localStorage.removeItem(storeKey);
          this.conversation = "";
          this.seq = 0;
          setTimeout(() => this.connect(), 100);
        }
        return;
      }
      this.say("Reconnecting…");
      setTimeout(() => this.connect(), this.retry);
      this.retry = Math.min(this.retry * 2, 8000);
    });
  };

  Chat.prototype.say = function (text) { this.status.textContent = text; };

  Chat.prototype.send = function (payload) {
    const data = JSON.stringify(payload);
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.send(data);
    else this.outbox.push(data);
  };

  Chat.prototype.sendText = function () {
    const text = this.input.value.trim();
    if (!text) return;
    this.input.value = "";
    this.send({ type: "message", text: text });
  };

  Chat.prototype.receive = function (event) {
    if (event.type === "conversation") {
      this.conversation = String(event.id);
      this.root.dataset.conversation = this.conversation;
      if (this.full) history.replaceState(null, "", `?c=${event.id}`);
      else localStorage.setItem(storeKey, this.conversation);
    } else if (event.type === "message") {
      this.upsert(event.message);
    } else if (event.type === "delta") {
      if (!this.streaming) {
        this.streaming = element("li", "chat-message assistant streaming");
        this.log.append(this.streaming);
      }
      this.streaming.textContent += event.text;
      this.scroll();
    } else if (event.type === "turn") {
      this.root.dataset.busy = event.state === "started" ? "1" : "";
      if (event.state === "ended") this.dropStreaming();
    } else if (event.type === "error") {
      const item = element("li", "chat-message notice", event.message);
      item.setAttribute("role", "alert");
      this.log.append(item);
      this.scroll();
    }
  };

  Chat.prototype.dropStreaming = function () {
    if (this.streaming) { this.streaming.remove(); this.streaming = null; }
  };

  Chat.prototype.upsert = function (message) {
    const known = this.items.get(message.id);
    if (known && known.seq >= message.seq) return; // seen already (replay and live can overlap)
    this.seq = Math.max(this.seq, message.seq);
    if (message.role === "assistant") this.dropStreaming();
    const node = this.render(message);
    if (known) known.node.replaceWith(node);
    else this.log.append(node);
    this.items.set(message.id, { seq: message.seq, node: node });
    this.scroll();
  };

  Chat.prototype.scroll = function () { this.log.scrollTop = this.log.scrollHeight; };

  Chat.prototype.render = function (message) {
    const item = element("li", `chat-message ${message.role}`);
    item.dataset.id = message.id;
    const data = message.data || {};
    if (message.role === "tool") {
      item.dataset.tool = data.name;
      item.dataset.status = data.status;
      item.append(element("span", "tool-name", data.name));
      item.append(element("span", "tool-status", data.status));
      if (data.result && data.result.message && data.status === "failed") {
        item.append(element("p", "", data.result.message));
      }
    } else if (message.role === "progress") {
      item.dataset.state = data.state;
      const done = data.state === "succeeded" ? data.steps_total : data.step_index;
      item.append(element("span", "", `${data.kind} ${data.site}: ${data.step || data.state}`));
      const bar = element("progress");
      bar.max = data.steps_total || 1;
      bar.value = done || 0;
      bar.setAttribute("aria-label", `${data.kind} of ${data.site}`);
      item.append(bar);
      item.append(element("span", "progress-state", data.state));
    } else {
      item.append(withLinks(message.text));
      const pending = data.pending_confirmation;
      if (pending) {
        item.dataset.action = pending.action_id;
        if (pending.state === "pending") {
          const actions = element("div", "chat-actions");
          const yes = element("button", "button small danger", "Confirm");
          const no = element("button", "button small secondary", "Cancel");
          yes.type = no.type = "button";
          yes.addEventListener("click", () => this.send({ type: "confirm", action_id: pending.action_id }));
          no.addEventListener("click", () => this.send({ type: "cancel", action_id: pending.action_id }));
          actions.append(yes, no);
          item.append(actions);
        } else {
          item.append(element("small", "decision", ` (${pending.state})`));
        }
      }
    }
    return item;
  };

  document.querySelectorAll("[data-chat]").forEach((root) => {
    // The dock's panel connects when first opened: most pages never use it.
    const dock = root.closest("details.chat-dock");
    if (dock && !dock.open) {
      dock.addEventListener("toggle", () => { if (dock.open && !root.chat) root.chat = new Chat(root); });
    } else {
      root.chat = new Chat(root);
    }
  });
})();
