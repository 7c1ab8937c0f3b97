//! Email: templates from `templates/email/` (a plain-text and an HTML part
//! each, values escaped in the HTML), sent over SMTP with lettre, or
//! written to the log in development when `SMTP_URL` is unset.

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, MultiPart},
};

use crate::config::MailConfig;

/// A rendered email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text part.
    pub text: String,
    /// HTML part.
    pub html: String,
}

/// The templates, compiled in.
#[derive(Debug, Clone, Copy)]
pub enum Template {
    /// After registration, with the first email verification code.
    Welcome,
    /// A new email verification code (`resendVerification`).
    VerifyEmail,
    /// A password-reset code.
    PasswordReset,
    /// A todo is due soon.
    DueReminder,
    /// An invitation to a list.
    ListInvitation,
}

impl Template {
    fn parts(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Self::Welcome => (
                "Welcome to todoql",
                include_str!("../../templates/email/welcome.txt"),
                include_str!("../../templates/email/welcome.html"),
            ),
            Self::VerifyEmail => (
                "Verify your todoql email address",
                include_str!("../../templates/email/verify_email.txt"),
                include_str!("../../templates/email/verify_email.html"),
            ),
            Self::PasswordReset => (
                "Reset your todoql password",
                include_str!("../../templates/email/password_reset.txt"),
                include_str!("../../templates/email/password_reset.html"),
            ),
            Self::DueReminder => (
                "A todo is due soon",
                include_str!("../../templates/email/due_reminder.txt"),
                include_str!("../../templates/email/due_reminder.html"),
            ),
            Self::ListInvitation => (
                "You are invited to a shared todo list",
                include_str!("../../templates/email/list_invitation.txt"),
                include_str!("../../templates/email/list_invitation.html"),
            ),
        }
    }

    /// Renders the template for `to` with `{{name}}`-style values.
    pub fn render(self, to: &str, values: &[(&str, &str)]) -> Email {
        let (subject, text, html) = self.parts();
        let mut text = text.to_owned();
        let mut html = html.to_owned();
        for (name, value) in values {
            let placeholder = format!("{{{{{name}}}}}");
            text = text.replace(&placeholder, value);
            html = html.replace(&placeholder, &escape_html(value));
        }
        Email {
            to: to.to_owned(),
            subject: subject.to_owned(),
            text,
            html,
        }
    }
}

/// Escapes text for HTML content and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Where email goes.
#[derive(Clone)]
pub enum Mailer {
    /// Over SMTP.
    Smtp {
        /// The transport (pooled connections).
        transport: AsyncSmtpTransport<Tokio1Executor>,
        /// The sender.
        from: Mailbox,
    },
    /// Into the log (development without `SMTP_URL`).
    Log,
}

impl Mailer {
    /// A mailer for `SMTP_URL` (`smtp://host:port`, `smtps://…`, or with
    /// `?tls=required` for STARTTLS) from `MAIL_FROM`; without `SMTP_URL`
    /// it logs instead.
    pub fn new(config: &MailConfig) -> anyhow::Result<Self> {
        let Some(url) = &config.smtp_url else {
            return Ok(Self::Log);
        };
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
            .map_err(|e| anyhow::anyhow!("SMTP_URL: {e}"))?
            .timeout(Some(std::time::Duration::from_secs(10)))
            .build();
        let from = config
            .from
            .parse()
            .map_err(|e| anyhow::anyhow!("MAIL_FROM: {e}"))?;
        Ok(Self::Smtp { transport, from })
    }

    /// Sends an email.
    pub async fn send(&self, email: Email) -> anyhow::Result<()> {
        match self {
            Self::Log => {
                tracing::info!(to = %email.to, subject = %email.subject, body = %email.text, "email (SMTP_URL unset: not sent)");
                Ok(())
            }
            Self::Smtp { transport, from } => {
                let message = Message::builder()
                    .from(from.clone())
                    .to(email.to.parse()?)
                    .subject(email.subject)
                    .multipart(MultiPart::alternative_plain_html(email.text, email.html))?;
                transport.send(message).await?;
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_in_html_only() {
        let email = Template::Welcome.render(
            "a@b.co",
            &[
                ("name", "<script>alert('x')</script> & co"),
                ("email", "a@b.co"),
                ("code", "ABCDE-FGH12"),
                ("link", "https://t.example/app#verify=ABCDE-FGH12&x=\"y\""),
            ],
        );
        assert!(email.text.contains("Hi <script>alert('x')</script> & co,"));
        assert!(
            email
                .html
                .contains("Hi &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; co,")
        );
        assert!(!email.html.contains("<script>"));
        // Attribute values too.
        assert!(
            email
                .html
                .contains(r#"href="https://t.example/app#verify=ABCDE-FGH12&amp;x=&quot;y&quot;""#),
            "{}",
            email.html
        );
        assert!(!email.text.contains("{{"));
        assert!(!email.html.contains("{{"));
    }

    #[test]
    fn verification_emails_show_the_code_on_a_line_of_its_own_and_the_link() {
        for template in [Template::Welcome, Template::VerifyEmail] {
            let email = template.render(
                "a@b.co",
                &[
                    ("name", "Ann"),
                    ("email", "a@b.co"),
                    ("code", "ABCDE-FGH12"),
                    ("link", "https://t.example/app#verify=ABCDE-FGH12"),
                ],
            );
            assert!(
                email.text.lines().any(|l| l == "ABCDE-FGH12"),
                "{template:?}: {}",
                email.text
            );
            assert!(
                email
                    .text
                    .lines()
                    .any(|l| l == "https://t.example/app#verify=ABCDE-FGH12"),
                "{template:?}: {}",
                email.text
            );
            assert!(
                email.html.contains("<code>ABCDE-FGH12</code></p>"),
                "{template:?}"
            );
            assert!(
                email
                    .html
                    .contains(r#"<a href="https://t.example/app#verify=ABCDE-FGH12">"#),
                "{template:?}"
            );
            for part in [&email.text, &email.html] {
                assert!(!part.contains("{{"), "{template:?}: {part}");
            }
        }
    }
}
