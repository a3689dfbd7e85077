use df_filetype::{Disagreement, Kind, check_declared};

#[test]
fn matching_labels_agree() {
    assert_eq!(
        check_declared(Kind::Jpeg, "image/jpeg", "photo.jpg"),
        Ok(())
    );
    assert_eq!(check_declared(Kind::Png, "image/png", "a.b.c.png"), Ok(()));
    assert_eq!(
        check_declared(Kind::Mov, "video/quicktime", "clip.qt"),
        Ok(())
    );
    assert_eq!(
        check_declared(Kind::Webm, "video/webm", "clip.webm"),
        Ok(())
    );
}

#[test]
fn content_types_ignore_case_parameters_and_space() {
    assert_eq!(
        check_declared(Kind::Jpeg, " IMAGE/JPEG ; charset=binary", "x.jpg"),
        Ok(())
    );
    assert_eq!(
        check_declared(Kind::Mp4, "Video/MP4;codecs=avc1", "x.mp4"),
        Ok(())
    );
}

#[test]
fn content_type_aliases() {
    for alias in ["image/jpg", "image/pjpeg"] {
        assert_eq!(
            check_declared(Kind::Jpeg, alias, "x.jpg"),
            Ok(()),
            "{alias}"
        );
    }
    assert_eq!(
        check_declared(Kind::Webm, "video/x-matroska", "x.webm"),
        Err(Disagreement::ContentType {
            declared: "video/x-matroska".into()
        })
    );
}

#[test]
fn a_jpeg_declared_as_png_disagrees() {
    assert_eq!(
        check_declared(Kind::Jpeg, "image/png", "photo.jpg"),
        Err(Disagreement::ContentType {
            declared: "image/png".into()
        })
    );
}

#[test]
fn octet_stream_and_empty_types_disagree() {
    for declared in ["application/octet-stream", "", "image/*"] {
        assert_eq!(
            check_declared(Kind::Png, declared, "x.png"),
            Err(Disagreement::ContentType {
                declared: declared.into()
            })
        );
    }
}

#[test]
fn extension_aliases_in_any_case() {
    for name in ["a.jpg", "a.JPEG", "a.Jpe"] {
        assert_eq!(
            check_declared(Kind::Jpeg, "image/jpeg", name),
            Ok(()),
            "{name}"
        );
    }
    assert_eq!(check_declared(Kind::Mp4, "video/mp4", "a.M4V"), Ok(()));
    assert_eq!(
        check_declared(Kind::Mov, "video/quicktime", "a.MOV"),
        Ok(())
    );
}

#[test]
fn a_png_name_on_jpeg_bytes_disagrees() {
    assert_eq!(
        check_declared(Kind::Jpeg, "image/jpeg", "photo.png"),
        Err(Disagreement::Extension {
            declared: "png".into()
        })
    );
}

#[test]
fn only_the_last_extension_counts() {
    assert_eq!(
        check_declared(Kind::Jpeg, "image/jpeg", "evil.jpg.exe"),
        Err(Disagreement::Extension {
            declared: "exe".into()
        })
    );
    assert_eq!(
        check_declared(Kind::Jpeg, "image/jpeg", "archive.exe.jpg"),
        Ok(())
    );
    assert_eq!(
        check_declared(Kind::Jpeg, "image/jpeg", "photo.jpg "),
        Err(Disagreement::Extension {
            declared: "jpg ".into()
        })
    );
}

#[test]
fn names_without_an_extension() {
    for name in [
        "photo",
        "photo.",
        "",
        "dir.jpg/photo",
        "C:\\pics.jpg\\photo",
        "pics/",
    ] {
        assert_eq!(
            check_declared(Kind::Jpeg, "image/jpeg", name),
            Err(Disagreement::MissingExtension),
            "{name}"
        );
    }
}

#[test]
fn only_the_final_path_component_counts() {
    assert_eq!(
        check_declared(
            Kind::Jpeg,
            "image/jpeg",
            "C:\\Users\\me\\Pictures\\holiday.JPEG"
        ),
        Ok(())
    );
    assert_eq!(
        check_declared(Kind::Gif, "image/gif", "../../tmp/x.gif"),
        Ok(())
    );
    assert_eq!(
        check_declared(Kind::Gif, "image/gif", "pics.gif/x.exe"),
        Err(Disagreement::Extension {
            declared: "exe".into()
        })
    );
}

#[test]
fn long_declared_values_are_truncated() {
    let long_type = format!("image/{}", "x".repeat(500));
    let Err(Disagreement::ContentType { declared }) =
        check_declared(Kind::Png, &long_type, "x.png")
    else {
        panic!("a long content type must disagree");
    };
    assert_eq!(declared.chars().count(), 64);
    assert!(declared.starts_with("image/xxx"));

    let long_name = format!("x.{}", "é".repeat(300));
    let Err(Disagreement::Extension { declared }) =
        check_declared(Kind::Png, "image/png", &long_name)
    else {
        panic!("a long extension must disagree");
    };
    assert_eq!(declared.chars().count(), 64);
}

#[test]
fn control_characters_are_replaced() {
    let Err(Disagreement::ContentType { declared }) =
        check_declared(Kind::Png, "text/html\r\nX-Injected: 1\u{0}", "x.png")
    else {
        panic!("text/html must disagree");
    };
    assert!(!declared.chars().any(char::is_control), "{declared:?}");
    assert_eq!(declared, "text/html\u{FFFD}\u{FFFD}X-Injected: 1\u{FFFD}");

    let Err(Disagreement::Extension { declared }) =
        check_declared(Kind::Png, "image/png", "x.ex\u{1B}[31me\u{202E}gnp")
    else {
        panic!("the extension must disagree");
    };
    assert!(!declared.chars().any(char::is_control), "{declared:?}");
    assert!(!declared.contains('\u{202E}'));
}

#[test]
fn disagreements_read_well() {
    let message = Disagreement::Extension {
        declared: "exe".into(),
    }
    .to_string();
    assert!(message.contains("\"exe\""), "{message}");
    assert_eq!(
        Disagreement::MissingExtension.to_string(),
        "the file name has no extension"
    );
}
