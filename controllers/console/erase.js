// The erase dialog: the officer types the applicant's email before the row is erased.
import { ApiError, SignedOut, request } from "./api.js";

const dialog = document.getElementById("erase-dialog");
const form = document.getElementById("erase-form");
const what = document.getElementById("erase-what");
const confirmField = document.getElementById("erase-confirm");
const submit = document.getElementById("erase-submit");
const error = document.getElementById("erase-error");

let current = null; // {registration, opener, onErased}

const matches = () =>
  current !== null &&
  confirmField.value.trim().toLowerCase() === current.registration.email.toLowerCase();

confirmField.addEventListener("input", () => {
  submit.disabled = !matches();
});

document.getElementById("erase-cancel").addEventListener("click", () => dialog.close());

dialog.addEventListener("close", () => {
  const opener = current?.opener;
  current = null;
  confirmField.value = "";
  error.textContent = "";
  // Back to where the officer was, if that button is still on the page.
  if (opener && opener.isConnected) opener.focus();
});

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!matches()) return;
  const { registration, onErased } = current;
  submit.disabled = true;
  try {
    await request(`/api/registrations/${encodeURIComponent(registration.id)}`, {}, { method: "DELETE" });
  } catch (failure) {
    if (failure instanceof SignedOut) {
      dialog.close();
      return;
    }
    if (failure instanceof ApiError && failure.status === 404) {
      dialog.close();
      onErased(registration, "That registration was already erased.");
      return;
    }
    error.textContent = failure.message;
    submit.disabled = !matches();
    return;
  }
  dialog.close();
  onErased(registration, `Erased the registration of ${registration.name}.`);
});

export function openErase(registration, opener, onErased) {
  current = { registration, opener, onErased };
  what.textContent =
    `This erases ${registration.name} (${registration.email}) for good: ` +
    "the registration, its retry keys and its confirmation email. It cannot be undone.";
  confirmField.value = "";
  error.textContent = "";
  submit.disabled = true;
  dialog.showModal();
  confirmField.focus();
}

export function closeErase() {
  if (dialog.open) dialog.close();
}
