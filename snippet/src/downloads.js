/*
 * Downloads: a link whose URL path ends in a known extension, or any <a download>.
 * Only the last path segment is read: query and fragment are ignored, and neither a host name
 * nor a dotted directory is an extension. The longest listed extension wins (tar.gz, not gz).
 * blob: and data: URLs are never sent: their name is the download attribute or the scheme.
 * The site's download_extensions come first, as a regular-expression alternation the generator
 * writes (each validated and its dots escaped).
 */
__MICROCV_MODULE__((hub, cfg, track, on, w, d) => {
  const pattern = RegExp('\\.(' + (cfg._download_extensions || '') +
    'pdf|zip|(tar\\.)?gz|tgz|bz2|xz|7z|rar|dmg|exe|msi|pkg|deb|rpm|apk|iso|docx?|xlsx?|pptx?|' +
    'od[tsp]|rtf|csv|txt|epub|mp[34]|wav|ogg|flac|mov|avi|mkv|webm)$', 'i');

  hub._clicks.push((t) => {
    const a = t.closest('a[href]');
    // getAttribute, not .href: on an SVG <a> .href is an object, not a string.
    const url = a && new URL(a.getAttribute('href'), d.baseURI);
    const name = a && a.getAttribute('download');
    let file = url && !/^(blob|data):/.test(url.protocol) ? url.pathname.split('/').pop() : '';
    const match = pattern.exec(file);
    if (match || name != null) {
      try {
        file = decodeURIComponent(file);
      } catch (_) {
        // a malformed escape: keep the name as written
      }
      track('download', name || file || url.protocol.slice(0, -1), match && {ext: match[1].toLowerCase()});
      return 'download';
    }
  });
});
