//! The package's callback endpoint end to end: real pushes over HTTP to
//! nginx on a loopback port, proxied (the README's recipe) to a Unix socket
//! where `systemd-socket-activate --accept --inetd` starts one
//! `wxtoken push --inetd` per connection, as `wxtoken-push.socket` does.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::push::{crypt, everything, op_push, setup, ts};
use crate::support::platform::{COMPONENT_APPID, SUITE_ID};
use crate::support::wxcrypt::{self, WxCrypt};
use crate::support::{Backend, Env, needs, now};

/// The nginx program: Debian puts it in /usr/sbin, off a user's PATH.
pub fn nginx() -> &'static str {
    if Path::new("/usr/sbin/nginx").exists() {
        "/usr/sbin/nginx"
    } else {
        "nginx"
    }
}

/// nginx in front of the socket, and the socket's activator; both stopped on drop.
struct Stack {
    port: u16,
    activator: Child,
    nginx: Child,
    dir: PathBuf,
}

impl Stack {
    fn start(env: &Env) -> Stack {
        let dir = env.path("web");
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("push.sock");
        // The service's own environment, from the unit (here: the test's).
        let template = env.command(&[]);
        let mut activator = Command::new("systemd-socket-activate");
        activator.args(["--accept", "--inetd", "-l"]).arg(&socket);
        activator.env_clear();
        for (k, v) in template.get_envs() {
            if let Some(v) = v {
                activator
                    .arg("-E")
                    .arg(format!("{}={}", k.to_str().unwrap(), v.to_str().unwrap()));
            }
        }
        activator
            .args([env!("CARGO_BIN_EXE_wxtoken"), "push", "--inetd"])
            .current_dir(env.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("push.log")).unwrap());
        let activator = activator.spawn().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let d = dir.display();
        let conf = format!(
            "daemon off;\nmaster_process off;\nerror_log {d}/error.log;\npid {d}/nginx.pid;\n\
             events {{ worker_connections 512; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
               fastcgi_temp_path {d}/fcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
               server {{\n    listen 127.0.0.1:{port};\n\
                 location /wechat/ {{\n      proxy_pass http://unix:{}:/;\n\
                   proxy_set_header X-Real-IP $remote_addr;\n      client_max_body_size 64k;\n    }}\n  }}\n}}\n",
            socket.display()
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        let nginx = Command::new(nginx())
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stack = Stack {
            port,
            activator,
            nginx,
            dir,
        };
        let start = Instant::now();
        while !(socket.exists() && TcpStream::connect(("127.0.0.1", port)).is_ok()) {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "nginx or the socket did not come up: {}",
                std::fs::read_to_string(stack.dir.join("error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        stack
    }

    /// Sends `request` to nginx; its status code and body.
    fn send(&self, request: &str) -> (u16, String) {
        let mut conn = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        conn.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        conn.read_to_string(&mut answer).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").expect("a whole answer");
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, body.to_string())
    }

    fn post(&self, path_query: &str, body: &str) -> (u16, String) {
        self.send(&format!(
            "POST {path_query} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ))
    }

    /// What the pushes wrote on stderr: the journal of `wxtoken-push@.service`.
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("push.log")).unwrap()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        for child in [&mut self.nginx, &mut self.activator] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

needs! { nginx:
    fn pushes_through_nginx_and_the_socket_are_stored_and_refusals_logged() {
        let env = setup(Backend::Sqlite);
        let stack = Stack::start(&env);
        // A ticket push, as WeChat sends it.
        let p = op_push(&wxcrypt::verify_ticket(COMPONENT_APPID, "ticket@@@nginx-1", now() - 100));
        assert_eq!(stack.post(&format!("/wechat/acme?{}", p.query), &p.body), (200, "success".into()));
        assert_eq!(
            env.text("SELECT value FROM wxtoken_tokens WHERE kind = 'component_verify_ticket'"),
            "ticket@@@nginx-1"
        );
        // WeCom's URL check.
        let query = crypt().wecom_echostr(SUITE_ID, "echo-through-nginx", &ts(), "n");
        let (status, body) = stack.send(&format!("GET /wechat/suite?{query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
        assert_eq!((status, body.as_str()), (200, "echo-through-nginx"));
        // A forged push: 403, nothing stored, one line naming platform, reason and peer.
        let forged = WxCrypt::new("anotherToken", crate::push::AES_KEY).open_platform_push(
            COMPONENT_APPID,
            &wxcrypt::verify_ticket(COMPONENT_APPID, "ticket@@@forged", now()),
            &ts(),
            "n",
        );
        assert_eq!(stack.post(&format!("/wechat/acme?{}", forged.query), &forged.body).0, 403);
        // An unknown platform, and a body over 64 KiB (nginx refuses it first).
        assert_eq!(stack.post(&format!("/wechat/nope?{}", p.query), &p.body).0, 404);
        assert_eq!(stack.post(&format!("/wechat/acme?{}", p.query), &"x".repeat(70_000)).0, 413);
        let log = stack.log();
        assert!(
            log.contains("push to platform \"acme\" from 127.0.0.1 refused: msg_signature does not match"),
            "{log}"
        );
        assert!(log.contains("push to platform \"nope\" from 127.0.0.1 refused"), "{log}");
        assert_eq!(
            env.text("SELECT value FROM wxtoken_tokens WHERE kind = 'component_verify_ticket'"),
            "ticket@@@nginx-1"
        );
        // 40 pushes at once: every one answered success, the newest kept.
        let pushes: Vec<_> = (0..40)
            .map(|i| op_push(&wxcrypt::verify_ticket(COMPONENT_APPID, &format!("ticket@@@c{i}"), now() - 50 + i)))
            .collect();
        std::thread::scope(|s| {
            let stack = &stack;
            let handles: Vec<_> = pushes
                .iter()
                .map(|p| s.spawn(move || stack.post(&format!("/wechat/acme?{}", p.query), &p.body)))
                .collect();
            for h in handles {
                assert_eq!(h.join().unwrap(), (200, "success".to_string()));
            }
        });
        assert_eq!(
            env.text("SELECT value FROM wxtoken_tokens WHERE kind = 'component_verify_ticket'"),
            "ticket@@@c39"
        );
        assert!(!format!("{:?}", everything(&env)).contains("forged"));
    }
}
