import { ApiError, get, post } from "/static/api.js";

const form = document.getElementById("login-form");
const error = document.getElementById("login-error");
const addressNote = document.getElementById("login-address");
const button = form.querySelector("button[type=submit]");

function showError(message) {
  error.textContent = message;
}

// The server refuses a sign-in from any address but its configured public URL (the Origin
// check). Say so before anyone types a password, with a link to the right address.
async function checkAddress() {
  let configured;
  try {
    configured = new URL((await get("/api/auth/address")).public_url);
  } catch {
    return; // an old server, or none: the sign-in itself will say what is wrong
  }
  if (configured.origin === window.location.origin) return;
  const link = document.createElement("a");
  link.href = new URL("/login", configured).href;
  link.textContent = configured.origin;
  addressNote.replaceChildren(
    `This address (${window.location.origin}) is not the configured public URL. Open `,
    link,
    " instead, or have the administrator set INBOX_PUBLIC_URL to the address people use.",
  );
  addressNote.hidden = false;
}

async function signIn(event) {
  event.preventDefault();
  const email = form.email.value.trim();
  const password = form.password.value;
  if (!email || !password) {
    showError("Enter your email and password.");
    (email ? form.password : form.email).focus();
    return;
  }
  showError("");
  button.disabled = true;
  button.textContent = "Signing in…";
  try {
    await post("/api/auth/login", { email, password });
    window.location.assign("/");
  } catch (exc) {
    showError(exc instanceof ApiError ? exc.detail : "Sign-in failed. Try again.");
    button.disabled = false;
    button.textContent = "Sign in";
    form.password.select();
    form.password.focus();
  }
}

form.addEventListener("submit", signIn);
checkAddress();

