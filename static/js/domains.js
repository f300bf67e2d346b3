// The site page's domains: the panel is loaded from the server, reloaded whenever a domain of this
// site changes status (the tenant's /ws/events/ stream, events.js), and its records can be copied.
(function () {
  const holder = document.getElementById("domains");
  if (!holder) return;
  const load = async () => {
    const response = await fetch(holder.dataset.url + "?fragment=1", { credentials: "same-origin" });
    if (response.ok) holder.innerHTML = await response.text();
  };
  holder.addEventListener("click", async (event) => {
    const button = event.target.closest("button.copy");
    if (!button) return;
    try {
      await navigator.clipboard.writeText(button.dataset.copy);
      button.textContent = "Copied";
    } catch (e) {
      button.textContent = "Select and copy";
    }
    setTimeout(() => { button.textContent = "Copy"; }, 2000);
  });
  holder.addEventListener("submit", (event) => {
    const message = event.target.dataset.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  });
  document.addEventListener("aipress:event", (e) => {
    const {event, payload} = e.detail;
    if (event === "domain.status" && payload.site === holder.dataset.site) load();
  });
  load();
})();
