// The login form keeps the page's fragment: the redirect after logging in,
// which keeps the form action's, then lands on the dashboard page that
// sent the browser here (/ui/#/deadletters goes to /ui/login#/deadletters).
// It is a file rather than a script in the page, which the
// Content-Security-Policy would refuse.
document.getElementById("login-form").action += location.hash;
