// A card flips to its answer on a click, or on Enter or Space while it has the focus.
document.querySelectorAll(".card").forEach(function (card) {
  function flip() { card.classList.toggle("flipped"); }
  card.addEventListener("click", flip);
  card.addEventListener("keydown", function (event) {
    if (event.key !== "Enter" && event.key !== " ") return;
    // The key flips the card, as a button's would; Space would also scroll the page.
    event.preventDefault();
    flip();
  });
});
