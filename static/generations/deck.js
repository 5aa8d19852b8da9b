// The deck viewer: one slide at a time, by its buttons or the arrow keys.
(function () {
  var slides = document.querySelectorAll(".slide"), current = 0;
  var prev = document.getElementById("prev"), next = document.getElementById("next");
  function show(index) {
    current = Math.max(0, Math.min(slides.length - 1, index));
    slides.forEach(function (slide, i) { slide.classList.toggle("current", i === current); });
    document.getElementById("position").textContent = (current + 1) + " / " + slides.length;
    prev.disabled = current === 0;
    next.disabled = current === slides.length - 1;
  }
  prev.addEventListener("click", function () { show(current - 1); });
  next.addEventListener("click", function () { show(current + 1); });
  document.addEventListener("keydown", function (event) {
    if (event.key === "ArrowRight") show(current + 1);
    if (event.key === "ArrowLeft") show(current - 1);
  });
  show(0);
})();
