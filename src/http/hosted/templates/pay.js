// The hosted payment page's own script: card number grouping and inline validation. The page
// works without it (the gateway checks every field again); it sends nothing anywhere, reads
// nothing but the form, and writes only text (never HTML) into the page.
(function () {
  "use strict";

  var summary = document.getElementById("errors");
  if (summary && !summary.hidden) {
    summary.focus();
  }
  var form = document.getElementById("payment");
  if (!form) {
    return;
  }
  // The checks below replace the browser's own bubbles, which screen readers announce poorly.
  form.noValidate = true;
  var button = document.getElementById("pay");
  var buttonLabel = button ? button.textContent : "";

  function digits(value) {
    return value.replace(/\D/g, "");
  }

  function luhn(number) {
    var sum = 0;
    for (var i = 0; i < number.length; i++) {
      var d = number.charCodeAt(number.length - 1 - i) - 48;
      if (i % 2 === 1) {
        d *= 2;
        if (d > 9) {
          d -= 9;
        }
      }
      sum += d;
    }
    return sum % 10 === 0;
  }

  function required(message) {
    return function (value) {
      return value.trim() ? "" : message;
    };
  }

  var checks = {
    card_number: function (value) {
      var d = digits(value);
      if (!d) {
        return "Enter the card number.";
      }
      if (/[^\d\s-]/.test(value) || d.length < 12 || d.length > 19) {
        return "Enter the 12 to 19 digits of the card number.";
      }
      return luhn(d) ? "" : "This card number is not valid: check the digits.";
    },
    expire_month: function (value) {
      var n = Number(value.trim());
      return /^\d{1,2}$/.test(value.trim()) && n >= 1 && n <= 12
        ? "" : "Enter the month as a number from 1 to 12.";
    },
    expire_year: function (value) {
      return /^(\d{2}|\d{4})$/.test(value.trim()) ? "" : "Enter the year, e.g. 2028.";
    },
    cvv: function (value) {
      return /^\d{3,4}$/.test(value.trim()) ? "" : "Enter the 3 or 4 digit security code.";
    },
    first_name: required("Enter your first name."),
    last_name: required("Enter your last name."),
    email: function (value) {
      return /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(value.trim())
        ? "" : "Enter an email address like name@example.com.";
    },
    phone: function (value) {
      return /^[\d\s+()-]{7,20}$/.test(value.trim()) && digits(value).length >= 7
        ? "" : "Enter a phone number of at least 7 digits.";
    },
    line1: required("Enter your address."),
    city: required("Enter your city."),
    region: function (value) {
      return /^[A-Za-z]{2,3}$/.test(value.trim())
        ? "" : "Enter the 2 or 3 letter state or province, e.g. CA.";
    },
    postal_code: function (value) {
      return /^[A-Za-z0-9 -]{1,12}$/.test(value.trim()) ? "" : "Enter your postal code.";
    },
    country: function (value) {
      return /^[A-Za-z]{2}$/.test(value.trim()) ? "" : "Enter the 2 letter country, e.g. US.";
    }
  };

  function labelOf(input) {
    var label = form.querySelector("label[for='" + input.id + "']");
    if (!label) {
      return input.name;
    }
    var hint = label.querySelector(".hint");
    var text = label.textContent;
    return (hint ? text.replace(hint.textContent, "") : text).trim();
  }

  // Marks `input` invalid with `message` (or valid when it is empty), the way the gateway's
  // own page does: aria-invalid, and aria-describedby naming the message below the field.
  function show(input, message) {
    var field = input.closest(".field");
    var id = input.id + "-error";
    var note = document.getElementById(id);
    if (message) {
      if (!note) {
        note = document.createElement("p");
        note.className = "field-error";
        note.id = id;
        input.insertAdjacentElement("afterend", note);
      }
      note.textContent = message;
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", id);
      if (field) {
        field.classList.add("invalid");
      }
    } else {
      if (note) {
        note.remove();
      }
      input.removeAttribute("aria-invalid");
      input.removeAttribute("aria-describedby");
      if (field) {
        field.classList.remove("invalid");
      }
    }
  }

  function check(input) {
    var rule = checks[input.name];
    var message = rule ? rule(input.value) : "";
    show(input, message);
    return message;
  }

  var inputs = Array.prototype.slice.call(form.querySelectorAll("input[name]"))
    .filter(function (input) { return checks[input.name]; });

  inputs.forEach(function (input) {
    input.addEventListener("blur", function () {
      // Not while the user is still filling the form in for the first time.
      if (input.value || input.getAttribute("aria-invalid")) {
        check(input);
      }
    });
  });

  var number = document.getElementById("card_number");
  if (number) {
    // Groups of four (American Express: 4, 6, 5), done when the field is left so the caret
    // never jumps while typing.
    number.addEventListener("blur", function () {
      var d = digits(number.value);
      if (d.length < 12 || d.length > 19 || /[^\d\s-]/.test(number.value)) {
        return;
      }
      var groups = /^3[47]/.test(d)
        ? [d.slice(0, 4), d.slice(4, 10), d.slice(10)]
        : d.match(/.{1,4}/g);
      number.value = groups.filter(Boolean).join(" ");
    });
  }
  ["cvv", "expire_month", "expire_year"].forEach(function (id) {
    var input = document.getElementById(id);
    if (input) {
      input.addEventListener("input", function () {
        var d = digits(input.value);
        if (d !== input.value) {
          input.value = d;
        }
      });
    }
  });

  function summarise(problems) {
    if (!summary) {
      return;
    }
    summary.textContent = "";
    summary.setAttribute("data-code", "validation_failed");
    var heading = document.createElement("h2");
    heading.textContent = "Please check the highlighted fields";
    var list = document.createElement("ul");
    problems.forEach(function (problem) {
      var item = document.createElement("li");
      var link = document.createElement("a");
      link.href = "#" + problem.input.id;
      link.textContent = labelOf(problem.input) + ": " + problem.message;
      item.appendChild(link);
      list.appendChild(item);
    });
    summary.appendChild(heading);
    summary.appendChild(list);
    summary.hidden = false;
    summary.focus();
  }

  form.addEventListener("submit", function (event) {
    var problems = [];
    inputs.forEach(function (input) {
      var message = check(input);
      if (message) {
        problems.push({ input: input, message: message });
      }
    });
    if (problems.length) {
      event.preventDefault();
      summarise(problems);
      return;
    }
    // One payment per click: a second submit would only wait for the first.
    if (button) {
      button.disabled = true;
      button.textContent = "Paying…";
    }
  });

  // Back from the next page (the browser's page cache): the button works again.
  window.addEventListener("pageshow", function () {
    if (button) {
      button.disabled = false;
      button.textContent = buttonLabel;
    }
  });
})();
