"""The human A/B test page: one self-contained HTML file (inline CSS and script, no network).

`__TEST_DATA__` is replaced by the test's JSON: its id, what it tests, and per pair the two image files,
the method shown and the side it is on. The page never displays the method; it writes it, with the
person's choice, into the answers file that the Save button downloads (and shows for copying).
"""

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src 'self' data: blob:;
 style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>Which is the real aerial photograph?</title>
<style>
 body { font-family: system-ui, sans-serif; background: #222; color: #eee; margin: 0; padding: 1.5em; }
 h1 { font-size: 1.3em; margin: 0 0 .4em; } p { max-width: 60em; line-height: 1.4; }
 .pair { display: flex; gap: 2em; margin: 1em 0; }
 .pair figure { margin: 0; text-align: center; }
 .pair img { image-rendering: pixelated; border: 3px solid #555; cursor: pointer; display: block; }
 .pair img:hover { border-color: #fc3; }
 button { font-size: 1.05em; padding: .5em 1.2em; margin: .3em .5em .3em 0; cursor: pointer; }
 textarea { width: 100%; max-width: 60em; height: 10em; font-family: monospace; }
 #progress { color: #aaa; } .hidden { display: none; }
</style>
</head>
<body>
<h1>Which one is the real aerial photograph?</h1>
<section id="intro">
 <p>Each of the <span id="count"></span> pairs shows the same place twice. One image is a real aerial
 photograph (7.5 cm pixels); the other was computed from a satellite image. Click the one you believe is
 the real photograph, or press the left or right arrow key. Take your time; there is no feedback.</p>
 <p><label>Your name or initials (optional): <input id="participant" autocomplete="off"></label></p>
 <button id="start">Start</button>
</section>
<section id="test" class="hidden">
 <p id="progress"></p>
 <div class="pair">
  <figure><img id="left" alt="left image"><figcaption>left (&larr;)</figcaption></figure>
  <figure><img id="right" alt="right image"><figcaption>right (&rarr;)</figcaption></figure>
 </div>
</section>
<section id="done" class="hidden">
 <p>Done: <span id="answered"></span> pairs answered. Save your answers and send the file to whoever gave
 you this page (or copy the text below into a .json file).</p>
 <button id="save">Save answers</button>
 <p><textarea id="json" readonly></textarea></p>
</section>
<script>
"use strict";
const TEST = __TEST_DATA__;
const answers = [];
let current = 0, shownAt = 0, participant = "";
const $ = (id) => document.getElementById(id);
$("count").textContent = TEST.trials.length;
for (const t of TEST.trials) { new Image().src = t.left; new Image().src = t.right; }

function show() {
  const t = TEST.trials[current];
  for (const side of ["left", "right"]) {
    const img = $(side);
    img.src = t[side]; img.width = t.width * TEST.zoom; img.height = t.width * TEST.zoom;
  }
  $("progress").textContent = "Pair " + (current + 1) + " of " + TEST.trials.length;
  shownAt = performance.now();
}

function choose(side) {
  if ($("test").classList.contains("hidden")) return;
  const t = TEST.trials[current];
  answers.push({trial: t.trial, method: t.method, method_side: t.method_side, chosen: side,
                chose_real: side !== t.method_side, ms: Math.round(performance.now() - shownAt)});
  current += 1;
  if (current < TEST.trials.length) { show(); } else { finish(); }
}

function result() {
  return {format: TEST.format, version: 1, test_id: TEST.test_id, participant: participant,
          finished: new Date().toISOString(), about: TEST.about, answers: answers};
}

function finish() {
  $("test").classList.add("hidden"); $("done").classList.remove("hidden");
  $("answered").textContent = answers.length;
  $("json").value = JSON.stringify(result(), null, 1);
}

function save() {
  const blob = new Blob([$("json").value], {type: "application/json"});
  const a = document.createElement("a");
  const who = (participant || "anonymous").replace(/[^A-Za-z0-9_-]+/g, "_");
  a.href = URL.createObjectURL(blob);
  a.download = "satsr-answers-" + TEST.test_id + "-" + who + ".json";
  document.body.appendChild(a); a.click(); a.remove();
}

$("start").addEventListener("click", () => {
  participant = $("participant").value.trim();
  $("intro").classList.add("hidden"); $("test").classList.remove("hidden"); show();
});
$("left").addEventListener("click", () => choose("left"));
$("right").addEventListener("click", () => choose("right"));
$("save").addEventListener("click", save);
document.addEventListener("keydown", (e) => {
  if (e.key === "ArrowLeft") choose("left");
  if (e.key === "ArrowRight") choose("right");
});
</script>
</body>
</html>
"""
