//! Every error identity answers, with its code, kind and message (the gateway passes the code
//! and message to clients; docs/api.md lists them per route).

df_common::error_catalogue! {
    /// Identity's errors.
    pub enum IdentityError {
        /// Not an email address, or too long.
        InvalidEmail = (InvalidInput, "identity.invalid_email", "The email address is not valid."),
        /// A username outside the allowed shape.
        InvalidUsername = (InvalidInput, "identity.invalid_username", "Usernames have 3 to 32 characters: letters, digits, '_', '.' or '-', starting with a letter or digit."),
        /// Signup asked for a role other than fan or creator.
        InvalidRole = (InvalidInput, "identity.invalid_role", "Choose the fan or the creator role."),
        /// An account status identity does not know.
        InvalidStatus = (InvalidInput, "identity.invalid_status", "Unknown account status."),
        /// Any unknown, used, expired or mistyped one-time token: they are indistinguishable.
        InvalidToken = (InvalidInput, "identity.invalid_token", "The link is invalid or has expired."),
        /// The username belongs to another account.
        UsernameTaken = (Conflict, "identity.username_taken", "This username is taken. Choose another one."),
        /// A concurrent signup with the same email won the race (answered like an existing one).
        SignupRace = (Conflict, "identity.signup_race", "Try again."),
        /// No account with this id.
        UserNotFound = (NotFound, "identity.user_not_found", "No such user."),
        /// Wrong email or password (the same answer for both).
        InvalidCredentials = (Unauthenticated, "identity.invalid_credentials", "The email or password is incorrect."),
        /// The session is unknown, revoked or expired.
        InvalidSession = (Unauthenticated, "identity.invalid_session", "The session is invalid or has expired."),
        /// Too many failures for this address or account; try later.
        TooManyAttempts = (RateLimited, "identity.too_many_attempts", "Too many failed attempts. Try again later."),
        /// The account's login is locked until unlocked by email or a password reset.
        LoginLocked = (RateLimited, "identity.login_locked", "Login is locked after repeated failures. Use the unlock link sent to the account's email, or reset the password."),
        /// The account is suspended.
        AccountSuspended = (Forbidden, "identity.account_suspended", "This account is suspended."),
        /// The email address is not verified yet.
        EmailNotVerified = (Forbidden, "identity.email_not_verified", "Verify your email address first; we sent you a link."),
        /// The password appears in known breaches.
        PasswordBreached = (Unprocessable, "identity.password_breached", "This password has appeared in a data breach. Choose another one."),
        /// Shorter than the policy's minimum (the message names it).
        PasswordTooShort = (Unprocessable, "identity.password_too_short", "The password is too short."),
        /// Longer than the policy's maximum (the message names it).
        PasswordTooLong = (Unprocessable, "identity.password_too_long", "The password is too long."),
        /// On the common-password list.
        PasswordCommon = (Unprocessable, "identity.password_common", "This password is too common and easy to guess. Choose another one."),
        /// Contains the email address or the username.
        PasswordContainsIdentity = (Unprocessable, "identity.password_contains_identity", "Your password must not contain your email address or username."),
        /// Password hashing is at capacity; retry shortly.
        Busy = (Unavailable, "identity.busy", "The service is busy. Please try again in a moment."),
        /// A mail header with a line break or control character (the message names it).
        MailHeaderInvalid = (InvalidInput, "identity.mail_header_invalid", "An email header must not contain line breaks or control characters."),
        /// The configured sender is not an email address.
        MailSenderInvalid = (InvalidInput, "identity.mail_sender_invalid", "The email sender is not an email address."),
        /// The recipient is not an email address.
        MailRecipientInvalid = (InvalidInput, "identity.mail_recipient_invalid", "The email recipient is not an email address."),
        /// The mail provider refused this message for good.
        MailRejected = (Unprocessable, "identity.mail_rejected", "The email could not be sent."),
    }
}
