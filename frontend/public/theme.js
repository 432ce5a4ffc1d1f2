// Apply the saved theme before the first paint so dark mode never flashes white (a file, not inline: the CSP).
(function () {
  var saved = localStorage.getItem("portal-theme");
  var dark = saved ? saved === "dark" : window.matchMedia("(prefers-color-scheme: dark)").matches;
  if (dark) document.documentElement.classList.add("dark");
})();
