// Live tenant events over /ws/events/. The "preparing" page reloads when the workspace is active;
// if the socket cannot connect it falls back to polling status.json.
(function () {
  const preparing = document.getElementById("preparing");
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  let reloaded = false;
  const onStatus = (status) => {
    if (preparing && status && status !== preparing.dataset.status && !reloaded) { reloaded = true; location.reload(); }
  };
  const poll = () => {
    if (!preparing) return;
    setInterval(async () => {
      const response = await fetch("status.json", { credentials: "same-origin" });
      if (response.ok) onStatus((await response.json()).status);
    }, 3000);
  };
  let socket;
  try { socket = new WebSocket(`${scheme}://${location.host}/ws/events/`); } catch (e) { poll(); return; }
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(event.data);
    document.dispatchEvent(new CustomEvent("aipress:event", { detail: message }));
    if (message.event === "tenant.status") onStatus(message.payload.status);
  });
  socket.addEventListener("close", (event) => { if (event.code !== 1000) poll(); });
})();
