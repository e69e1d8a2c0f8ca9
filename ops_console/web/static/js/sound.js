// A beep for critical alerts with WebAudio: no sound file to serve.
let context = null;

export function beep() {
  try {
    context = context || new AudioContext();
    const osc = context.createOscillator();
    const gain = context.createGain();
    osc.type = "square";
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.15, context.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, context.currentTime + 0.6);
    osc.connect(gain).connect(context.destination);
    osc.start();
    osc.stop(context.currentTime + 0.6);
    document.body.dataset.lastBeep = String(Date.now());
  } catch (error) {
    console.warn("no sound:", error);
  }
}
