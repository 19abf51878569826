import { ApiError, post } from "/static/api.js";

const form = document.getElementById("login-form");
const error = document.getElementById("login-error");
const button = form.querySelector("button[type=submit]");

function showError(message) {
  error.textContent = message;
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

