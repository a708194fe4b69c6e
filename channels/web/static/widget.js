/* Switchboard chat widget: <script src="https://support.example.com/widget.js" defer></script>
 *
 * data-server        Switchboard's address (default: where this script came from)
 * data-token         a session token your back end got from POST /api/session (names the user)
 * data-session-url   or: your own endpoint that answers {"token": ...} for the signed-in user
 * data-title         the panel's title (default "Support", in the widget's language)
 * data-lang          the widget's own labels' language (default: the page's <html lang>, else the browser's);
 *                    one of en es pt fr de it nl pl tr vi id ru zh ja ko th ar hi, else English
 * data-open          "true": open the panel when the page loads
 * Without data-token and data-session-url the widget asks Switchboard for an anonymous session.
 *
 * Protocol: docs/web.md. Everything the model or the knowledge base wrote is put on the page as text
 * (textContent), never as HTML: a reply cannot inject markup or script.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.__switchboardWidget) return;
  window.__switchboardWidget = true;
  var data = script.dataset;
  var server = (data.server || new URL(script.src, location.href).origin).replace(/\/+$/, "");
  var socketUrl = server.replace(/^http/, "ws") + "/ws";
  var storeKey = "switchboard:" + server;

  // --- the widget's own labels, in the page's language (replies come in the customer's: docs/web.md) ----
  var EN = {
    title: "Support", open: "Open the {title} chat", new_label: "Start a new conversation", new: "New chat",
    close: "Close the chat", conversation: "Conversation", your_message: "Your message",
    placeholder: "Ask a question\u2026", send: "Send", you: "You: ", sources: "Sources:",
    actions: "Suggested actions", handover: "Connecting you with a person\u2026 they will reply here.",
    helpful: "Did this answer your question?", yes: "Yes, it did", no: "No, it did not",
    failed: "Something went wrong.", too_long: "This message is too long to send.",
    unavailable: "Chat unavailable: ", reconnecting: "Reconnecting\u2026", agent: "Support team",
    unread: "New reply"
  };
  var LABELS = {
    es: {"title": "Soporte", "open": "Abrir el chat de {title}", "new_label": "Iniciar una nueva conversaci\u00f3n", "new": "Nuevo chat", "close": "Cerrar el chat", "conversation": "Conversaci\u00f3n", "your_message": "Su mensaje", "placeholder": "Haga una pregunta\u2026", "send": "Enviar", "you": "Usted: ", "sources": "Fuentes:", "actions": "Acciones sugeridas", "handover": "Le estamos conectando con una persona\u2026 le responder\u00e1 aqu\u00ed.", "helpful": "\u00bfEsta respuesta resolvi\u00f3 su pregunta?", "yes": "S\u00ed, la resolvi\u00f3", "no": "No, no la resolvi\u00f3", "failed": "Algo sali\u00f3 mal.", "too_long": "Este mensaje es demasiado largo para enviarlo.", "unavailable": "Chat no disponible: ", "reconnecting": "Reconectando\u2026", "agent": "Equipo de soporte", "unread": "Nueva respuesta"},
    pt: {"title": "Suporte", "open": "Abrir o chat de {title}", "new_label": "Iniciar uma nova conversa", "new": "Novo chat", "close": "Fechar o chat", "conversation": "Conversa", "your_message": "Sua mensagem", "placeholder": "Fa\u00e7a uma pergunta\u2026", "send": "Enviar", "you": "Voc\u00ea: ", "sources": "Fontes:", "actions": "A\u00e7\u00f5es sugeridas", "handover": "Conectando voc\u00ea a um atendente\u2026 ele responder\u00e1 aqui.", "helpful": "Esta resposta esclareceu sua d\u00favida?", "yes": "Sim, esclareceu", "no": "N\u00e3o, n\u00e3o esclareceu", "failed": "Algo deu errado.", "too_long": "Esta mensagem \u00e9 longa demais para ser enviada.", "unavailable": "Chat indispon\u00edvel: ", "reconnecting": "Reconectando\u2026", "agent": "Equipe de suporte", "unread": "Nova resposta"},
    fr: {"title": "Assistance", "open": "Ouvrir le chat {title}", "new_label": "D\u00e9marrer une nouvelle conversation", "new": "Nouveau chat", "close": "Fermer le chat", "conversation": "Conversation", "your_message": "Votre message", "placeholder": "Posez votre question\u2026", "send": "Envoyer", "you": "Vous\u00a0: ", "sources": "Sources\u00a0:", "actions": "Actions sugg\u00e9r\u00e9es", "handover": "Nous vous mettons en relation avec un conseiller\u2026 il vous r\u00e9pondra ici.", "helpful": "Avons-nous r\u00e9pondu \u00e0 votre question\u00a0?", "yes": "Oui, merci", "no": "Non, pas vraiment", "failed": "Une erreur s\u2019est produite.", "too_long": "Ce message est trop long pour \u00eatre envoy\u00e9.", "unavailable": "Chat indisponible\u00a0: ", "reconnecting": "Reconnexion\u2026", "agent": "\u00c9quipe d\u2019assistance", "unread": "Nouvelle r\u00e9ponse"},
    de: {"title": "Support", "open": "{title}-Chat \u00f6ffnen", "new_label": "Neue Unterhaltung beginnen", "new": "Neuer Chat", "close": "Chat schlie\u00dfen", "conversation": "Unterhaltung", "your_message": "Ihre Nachricht", "placeholder": "Stellen Sie eine Frage\u2026", "send": "Senden", "you": "Sie: ", "sources": "Quellen:", "actions": "Vorgeschlagene Aktionen", "handover": "Wir verbinden Sie mit einem Mitarbeiter\u2026 die Antwort erhalten Sie hier.", "helpful": "Wurde Ihre Frage damit beantwortet?", "yes": "Ja, danke", "no": "Nein, leider nicht", "failed": "Ein Fehler ist aufgetreten.", "too_long": "Diese Nachricht ist zu lang, um gesendet zu werden.", "unavailable": "Chat nicht verf\u00fcgbar: ", "reconnecting": "Verbindung wird wiederhergestellt\u2026", "agent": "Support-Team", "unread": "Neue Antwort"},
    it: {"title": "Assistenza", "open": "Apri la chat {title}", "new_label": "Avvia una nuova conversazione", "new": "Nuova chat", "close": "Chiudi la chat", "conversation": "Conversazione", "your_message": "Il suo messaggio", "placeholder": "Faccia una domanda\u2026", "send": "Invia", "you": "Lei: ", "sources": "Fonti:", "actions": "Azioni suggerite", "handover": "La stiamo mettendo in contatto con un operatore\u2026 le risponder\u00e0 qui.", "helpful": "Ha ricevuto risposta alla sua domanda?", "yes": "S\u00ec, grazie", "no": "No, purtroppo", "failed": "Si \u00e8 verificato un errore.", "too_long": "Questo messaggio \u00e8 troppo lungo per essere inviato.", "unavailable": "Chat non disponibile: ", "reconnecting": "Riconnessione in corso\u2026", "agent": "Team di assistenza", "unread": "Nuova risposta"},
    nl: {"title": "Klantenservice", "open": "Open de chat met {title}", "new_label": "Start een nieuw gesprek", "new": "Nieuwe chat", "close": "Sluit de chat", "conversation": "Gesprek", "your_message": "Uw bericht", "placeholder": "Stel een vraag\u2026", "send": "Verzenden", "you": "U: ", "sources": "Bronnen:", "actions": "Voorgestelde acties", "handover": "We verbinden u met een medewerker\u2026 u krijgt hier een reactie.", "helpful": "Heeft dit uw vraag beantwoord?", "yes": "Ja, dank u", "no": "Nee, helaas niet", "failed": "Er is iets misgegaan.", "too_long": "Dit bericht is te lang om te verzenden.", "unavailable": "Chat niet beschikbaar: ", "reconnecting": "Opnieuw verbinden\u2026", "agent": "Klantenservice", "unread": "Nieuw antwoord"},
    pl: {"title": "Pomoc", "open": "Otw\u00f3rz czat {title}", "new_label": "Rozpocznij now\u0105 rozmow\u0119", "new": "Nowy czat", "close": "Zamknij czat", "conversation": "Rozmowa", "your_message": "Tre\u015b\u0107 wiadomo\u015bci", "placeholder": "Zadaj pytanie\u2026", "send": "Wy\u015blij", "you": "Ty: ", "sources": "\u0179r\u00f3d\u0142a:", "actions": "Sugerowane dzia\u0142ania", "handover": "\u0141\u0105czymy z konsultantem\u2026 odpowied\u017a pojawi si\u0119 tutaj.", "helpful": "Czy ta odpowied\u017a pomog\u0142a?", "yes": "Tak, pomog\u0142a", "no": "Nie, nie pomog\u0142a", "failed": "Co\u015b posz\u0142o nie tak.", "too_long": "Ta wiadomo\u015b\u0107 jest za d\u0142uga, aby j\u0105 wys\u0142a\u0107.", "unavailable": "Czat niedost\u0119pny: ", "reconnecting": "Ponowne \u0142\u0105czenie\u2026", "agent": "Zesp\u00f3\u0142 pomocy", "unread": "Nowa odpowied\u017a"},
    tr: {"title": "Destek", "open": "{title} sohbetini a\u00e7", "new_label": "Yeni bir g\u00f6r\u00fc\u015fme ba\u015flat", "new": "Yeni sohbet", "close": "Sohbeti kapat", "conversation": "Sohbet", "your_message": "Mesaj\u0131n\u0131z", "placeholder": "Bir soru sorun\u2026", "send": "G\u00f6nder", "you": "Siz: ", "sources": "Kaynaklar:", "actions": "\u00d6nerilen i\u015flemler", "handover": "Sizi bir temsilciye ba\u011fl\u0131yoruz\u2026 yan\u0131t\u0131n\u0131z\u0131 buradan alacaks\u0131n\u0131z.", "helpful": "Bu yan\u0131t sorunuza cevap verdi mi?", "yes": "Evet, verdi", "no": "Hay\u0131r, vermedi", "failed": "Bir hata olu\u015ftu.", "too_long": "Bu mesaj g\u00f6nderilemeyecek kadar uzun.", "unavailable": "Sohbet kullan\u0131lam\u0131yor: ", "reconnecting": "Yeniden ba\u011flan\u0131l\u0131yor\u2026", "agent": "Destek ekibi", "unread": "Yeni yan\u0131t"},
    vi: {"title": "H\u1ed7 tr\u1ee3", "open": "M\u1edf cu\u1ed9c tr\u00f2 chuy\u1ec7n {title}", "new_label": "B\u1eaft \u0111\u1ea7u cu\u1ed9c tr\u00f2 chuy\u1ec7n m\u1edbi", "new": "Tr\u00f2 chuy\u1ec7n m\u1edbi", "close": "\u0110\u00f3ng cu\u1ed9c tr\u00f2 chuy\u1ec7n", "conversation": "Cu\u1ed9c tr\u00f2 chuy\u1ec7n", "your_message": "Tin nh\u1eafn c\u1ee7a b\u1ea1n", "placeholder": "\u0110\u1eb7t c\u00e2u h\u1ecfi\u2026", "send": "G\u1eedi", "you": "B\u1ea1n: ", "sources": "Ngu\u1ed3n:", "actions": "Thao t\u00e1c g\u1ee3i \u00fd", "handover": "\u0110ang k\u1ebft n\u1ed1i b\u1ea1n v\u1edbi nh\u00e2n vi\u00ean h\u1ed7 tr\u1ee3\u2026 h\u1ecd s\u1ebd tr\u1ea3 l\u1eddi t\u1ea1i \u0111\u00e2y.", "helpful": "C\u00e2u tr\u1ea3 l\u1eddi n\u00e0y c\u00f3 gi\u1ea3i \u0111\u00e1p \u0111\u01b0\u1ee3c th\u1eafc m\u1eafc c\u1ee7a b\u1ea1n kh\u00f4ng?", "yes": "C\u00f3, \u0111\u00e3 gi\u1ea3i \u0111\u00e1p", "no": "Kh\u00f4ng, ch\u01b0a gi\u1ea3i \u0111\u00e1p", "failed": "\u0110\u00e3 x\u1ea3y ra l\u1ed7i.", "too_long": "Tin nh\u1eafn n\u00e0y qu\u00e1 d\u00e0i \u0111\u1ec3 g\u1eedi.", "unavailable": "Tr\u00f2 chuy\u1ec7n kh\u00f4ng kh\u1ea3 d\u1ee5ng: ", "reconnecting": "\u0110ang k\u1ebft n\u1ed1i l\u1ea1i\u2026", "agent": "\u0110\u1ed9i ng\u0169 h\u1ed7 tr\u1ee3", "unread": "Ph\u1ea3n h\u1ed3i m\u1edbi"},
    id: {"title": "Bantuan", "open": "Buka obrolan {title}", "new_label": "Mulai percakapan baru", "new": "Obrolan baru", "close": "Tutup obrolan", "conversation": "Percakapan", "your_message": "Pesan Anda", "placeholder": "Ajukan pertanyaan\u2026", "send": "Kirim", "you": "Anda: ", "sources": "Sumber:", "actions": "Tindakan yang disarankan", "handover": "Menghubungkan Anda dengan petugas\u2026 mereka akan membalas di sini.", "helpful": "Apakah ini menjawab pertanyaan Anda?", "yes": "Ya, sudah", "no": "Tidak, belum", "failed": "Terjadi kesalahan.", "too_long": "Pesan ini terlalu panjang untuk dikirim.", "unavailable": "Obrolan tidak tersedia: ", "reconnecting": "Menghubungkan kembali\u2026", "agent": "Tim bantuan", "unread": "Balasan baru"},
    ru: {"title": "\u041f\u043e\u0434\u0434\u0435\u0440\u0436\u043a\u0430", "open": "\u041e\u0442\u043a\u0440\u044b\u0442\u044c \u0447\u0430\u0442 \u00ab{title}\u00bb", "new_label": "\u041d\u0430\u0447\u0430\u0442\u044c \u043d\u043e\u0432\u044b\u0439 \u0434\u0438\u0430\u043b\u043e\u0433", "new": "\u041d\u043e\u0432\u044b\u0439 \u0447\u0430\u0442", "close": "\u0417\u0430\u043a\u0440\u044b\u0442\u044c \u0447\u0430\u0442", "conversation": "\u0414\u0438\u0430\u043b\u043e\u0433", "your_message": "\u0412\u0430\u0448\u0435 \u0441\u043e\u043e\u0431\u0449\u0435\u043d\u0438\u0435", "placeholder": "\u0417\u0430\u0434\u0430\u0439\u0442\u0435 \u0432\u043e\u043f\u0440\u043e\u0441\u2026", "send": "\u041e\u0442\u043f\u0440\u0430\u0432\u0438\u0442\u044c", "you": "\u0412\u044b: ", "sources": "\u0418\u0441\u0442\u043e\u0447\u043d\u0438\u043a\u0438:", "actions": "\u041f\u0440\u0435\u0434\u043b\u0430\u0433\u0430\u0435\u043c\u044b\u0435 \u0434\u0435\u0439\u0441\u0442\u0432\u0438\u044f", "handover": "\u0421\u043e\u0435\u0434\u0438\u043d\u044f\u0435\u043c \u0432\u0430\u0441 \u0441 \u0441\u043e\u0442\u0440\u0443\u0434\u043d\u0438\u043a\u043e\u043c\u2026 \u043e\u0442\u0432\u0435\u0442 \u043f\u043e\u044f\u0432\u0438\u0442\u0441\u044f \u0437\u0434\u0435\u0441\u044c.", "helpful": "\u042d\u0442\u043e\u0442 \u043e\u0442\u0432\u0435\u0442 \u043f\u043e\u043c\u043e\u0433 \u0432\u0430\u043c?", "yes": "\u0414\u0430, \u043f\u043e\u043c\u043e\u0433", "no": "\u041d\u0435\u0442, \u043d\u0435 \u043f\u043e\u043c\u043e\u0433", "failed": "\u0427\u0442\u043e-\u0442\u043e \u043f\u043e\u0448\u043b\u043e \u043d\u0435 \u0442\u0430\u043a.", "too_long": "\u042d\u0442\u043e \u0441\u043e\u043e\u0431\u0449\u0435\u043d\u0438\u0435 \u0441\u043b\u0438\u0448\u043a\u043e\u043c \u0434\u043b\u0438\u043d\u043d\u043e\u0435 \u0434\u043b\u044f \u043e\u0442\u043f\u0440\u0430\u0432\u043a\u0438.", "unavailable": "\u0427\u0430\u0442 \u043d\u0435\u0434\u043e\u0441\u0442\u0443\u043f\u0435\u043d: ", "reconnecting": "\u041f\u043e\u0432\u0442\u043e\u0440\u043d\u043e\u0435 \u043f\u043e\u0434\u043a\u043b\u044e\u0447\u0435\u043d\u0438\u0435\u2026", "agent": "\u0421\u043b\u0443\u0436\u0431\u0430 \u043f\u043e\u0434\u0434\u0435\u0440\u0436\u043a\u0438", "unread": "\u041d\u043e\u0432\u044b\u0439 \u043e\u0442\u0432\u0435\u0442"},
    zh: {"title": "\u5ba2\u670d", "open": "\u6253\u5f00{title}\u804a\u5929", "new_label": "\u5f00\u59cb\u65b0\u5bf9\u8bdd", "new": "\u65b0\u5bf9\u8bdd", "close": "\u5173\u95ed\u804a\u5929", "conversation": "\u5bf9\u8bdd", "your_message": "\u60a8\u7684\u6d88\u606f", "placeholder": "\u8bf7\u8f93\u5165\u60a8\u7684\u95ee\u9898\u2026", "send": "\u53d1\u9001", "you": "\u60a8\uff1a ", "sources": "\u6765\u6e90\uff1a", "actions": "\u5efa\u8bae\u64cd\u4f5c", "handover": "\u6b63\u5728\u4e3a\u60a8\u8f6c\u63a5\u4eba\u5de5\u5ba2\u670d\u2026\u5ba2\u670d\u5c06\u5728\u6b64\u56de\u590d\u60a8\u3002", "helpful": "\u8fd9\u4e2a\u56de\u7b54\u89e3\u51b3\u4e86\u60a8\u7684\u95ee\u9898\u5417\uff1f", "yes": "\u662f\uff0c\u5df2\u89e3\u51b3", "no": "\u5426\uff0c\u672a\u89e3\u51b3", "failed": "\u51fa\u9519\u4e86\u3002", "too_long": "\u6d88\u606f\u8fc7\u957f\uff0c\u65e0\u6cd5\u53d1\u9001\u3002", "unavailable": "\u804a\u5929\u4e0d\u53ef\u7528\uff1a ", "reconnecting": "\u6b63\u5728\u91cd\u65b0\u8fde\u63a5\u2026", "agent": "\u5ba2\u670d\u56e2\u961f", "unread": "\u65b0\u56de\u590d"},
    ja: {"title": "\u30b5\u30dd\u30fc\u30c8", "open": "{title}\u30c1\u30e3\u30c3\u30c8\u3092\u958b\u304f", "new_label": "\u65b0\u3057\u3044\u4f1a\u8a71\u3092\u958b\u59cb", "new": "\u65b0\u3057\u3044\u30c1\u30e3\u30c3\u30c8", "close": "\u30c1\u30e3\u30c3\u30c8\u3092\u9589\u3058\u308b", "conversation": "\u4f1a\u8a71", "your_message": "\u30e1\u30c3\u30bb\u30fc\u30b8", "placeholder": "\u8cea\u554f\u3092\u5165\u529b\u3057\u3066\u304f\u3060\u3055\u3044\u2026", "send": "\u9001\u4fe1", "you": "\u304a\u5ba2\u69d8\uff1a ", "sources": "\u51fa\u5178\uff1a", "actions": "\u304a\u3059\u3059\u3081\u306e\u64cd\u4f5c", "handover": "\u62c5\u5f53\u8005\u306b\u304a\u3064\u306a\u304e\u3057\u3066\u3044\u307e\u3059\u2026\u3053\u3061\u3089\u3067\u8fd4\u4fe1\u3044\u305f\u3057\u307e\u3059\u3002", "helpful": "\u3053\u306e\u56de\u7b54\u3067\u3054\u8cea\u554f\u306f\u89e3\u6c7a\u3057\u307e\u3057\u305f\u304b\uff1f", "yes": "\u306f\u3044\u3001\u89e3\u6c7a\u3057\u307e\u3057\u305f", "no": "\u3044\u3044\u3048\u3001\u89e3\u6c7a\u3057\u307e\u305b\u3093\u3067\u3057\u305f", "failed": "\u30a8\u30e9\u30fc\u304c\u767a\u751f\u3057\u307e\u3057\u305f\u3002", "too_long": "\u3053\u306e\u30e1\u30c3\u30bb\u30fc\u30b8\u306f\u9577\u3059\u304e\u308b\u305f\u3081\u9001\u4fe1\u3067\u304d\u307e\u305b\u3093\u3002", "unavailable": "\u30c1\u30e3\u30c3\u30c8\u3092\u3054\u5229\u7528\u3044\u305f\u3060\u3051\u307e\u305b\u3093\uff1a ", "reconnecting": "\u518d\u63a5\u7d9a\u3057\u3066\u3044\u307e\u3059\u2026", "agent": "\u30b5\u30dd\u30fc\u30c8\u62c5\u5f53", "unread": "\u65b0\u3057\u3044\u8fd4\u4fe1"},
    ko: {"title": "\uace0\uac1d \uc9c0\uc6d0", "open": "{title} \ucc44\ud305 \uc5f4\uae30", "new_label": "\uc0c8 \ub300\ud654 \uc2dc\uc791", "new": "\uc0c8 \ucc44\ud305", "close": "\ucc44\ud305 \ub2eb\uae30", "conversation": "\ub300\ud654", "your_message": "\uba54\uc2dc\uc9c0", "placeholder": "\uc9c8\ubb38\uc744 \uc785\ub825\ud574 \uc8fc\uc138\uc694\u2026", "send": "\uc804\uc1a1", "you": "\uace0\uac1d\ub2d8: ", "sources": "\ucd9c\ucc98:", "actions": "\ucd94\ucc9c \uc791\uc5c5", "handover": "\uc0c1\ub2f4\uc6d0\uacfc \uc5f0\uacb0\ud558\uace0 \uc788\uc2b5\ub2c8\ub2e4\u2026 \uc774\uacf3\uc5d0\uc11c \ub2f5\ubcc0\uc744 \ub4dc\ub9b4 \uc608\uc815\uc785\ub2c8\ub2e4.", "helpful": "\uc9c8\ubb38\uc5d0 \ub300\ud55c \ub2f5\ubcc0\uc774 \ub418\uc5c8\ub098\uc694?", "yes": "\uc608, \ub418\uc5c8\uc2b5\ub2c8\ub2e4", "no": "\uc544\ub2c8\uc694, \ub418\uc9c0 \uc54a\uc558\uc2b5\ub2c8\ub2e4", "failed": "\ubb38\uc81c\uac00 \ubc1c\uc0dd\ud588\uc2b5\ub2c8\ub2e4.", "too_long": "\uba54\uc2dc\uc9c0\uac00 \ub108\ubb34 \uae38\uc5b4 \ubcf4\ub0bc \uc218 \uc5c6\uc2b5\ub2c8\ub2e4.", "unavailable": "\ucc44\ud305\uc744 \uc0ac\uc6a9\ud560 \uc218 \uc5c6\uc2b5\ub2c8\ub2e4: ", "reconnecting": "\ub2e4\uc2dc \uc5f0\uacb0\ud558\ub294 \uc911\u2026", "agent": "\uace0\uac1d \uc9c0\uc6d0\ud300", "unread": "\uc0c8 \ub2f5\ubcc0"},
    th: {"title": "\u0e1d\u0e48\u0e32\u0e22\u0e2a\u0e19\u0e31\u0e1a\u0e2a\u0e19\u0e38\u0e19", "open": "\u0e40\u0e1b\u0e34\u0e14\u0e41\u0e0a\u0e17 {title}", "new_label": "\u0e40\u0e23\u0e34\u0e48\u0e21\u0e01\u0e32\u0e23\u0e2a\u0e19\u0e17\u0e19\u0e32\u0e43\u0e2b\u0e21\u0e48", "new": "\u0e41\u0e0a\u0e17\u0e43\u0e2b\u0e21\u0e48", "close": "\u0e1b\u0e34\u0e14\u0e41\u0e0a\u0e17", "conversation": "\u0e01\u0e32\u0e23\u0e2a\u0e19\u0e17\u0e19\u0e32", "your_message": "\u0e02\u0e49\u0e2d\u0e04\u0e27\u0e32\u0e21\u0e02\u0e2d\u0e07\u0e04\u0e38\u0e13", "placeholder": "\u0e1e\u0e34\u0e21\u0e1e\u0e4c\u0e04\u0e33\u0e16\u0e32\u0e21\u0e02\u0e2d\u0e07\u0e04\u0e38\u0e13\u2026", "send": "\u0e2a\u0e48\u0e07", "you": "\u0e04\u0e38\u0e13: ", "sources": "\u0e41\u0e2b\u0e25\u0e48\u0e07\u0e17\u0e35\u0e48\u0e21\u0e32:", "actions": "\u0e01\u0e32\u0e23\u0e14\u0e33\u0e40\u0e19\u0e34\u0e19\u0e01\u0e32\u0e23\u0e17\u0e35\u0e48\u0e41\u0e19\u0e30\u0e19\u0e33", "handover": "\u0e01\u0e33\u0e25\u0e31\u0e07\u0e40\u0e0a\u0e37\u0e48\u0e2d\u0e21\u0e15\u0e48\u0e2d\u0e04\u0e38\u0e13\u0e01\u0e31\u0e1a\u0e40\u0e08\u0e49\u0e32\u0e2b\u0e19\u0e49\u0e32\u0e17\u0e35\u0e48\u2026 \u0e40\u0e08\u0e49\u0e32\u0e2b\u0e19\u0e49\u0e32\u0e17\u0e35\u0e48\u0e08\u0e30\u0e15\u0e2d\u0e1a\u0e01\u0e25\u0e31\u0e1a\u0e17\u0e35\u0e48\u0e19\u0e35\u0e48", "helpful": "\u0e04\u0e33\u0e15\u0e2d\u0e1a\u0e19\u0e35\u0e49\u0e15\u0e2d\u0e1a\u0e04\u0e33\u0e16\u0e32\u0e21\u0e02\u0e2d\u0e07\u0e04\u0e38\u0e13\u0e2b\u0e23\u0e37\u0e2d\u0e44\u0e21\u0e48", "yes": "\u0e43\u0e0a\u0e48 \u0e44\u0e14\u0e49\u0e04\u0e33\u0e15\u0e2d\u0e1a\u0e41\u0e25\u0e49\u0e27", "no": "\u0e44\u0e21\u0e48 \u0e22\u0e31\u0e07\u0e44\u0e21\u0e48\u0e44\u0e14\u0e49\u0e04\u0e33\u0e15\u0e2d\u0e1a", "failed": "\u0e40\u0e01\u0e34\u0e14\u0e02\u0e49\u0e2d\u0e1c\u0e34\u0e14\u0e1e\u0e25\u0e32\u0e14", "too_long": "\u0e02\u0e49\u0e2d\u0e04\u0e27\u0e32\u0e21\u0e19\u0e35\u0e49\u0e22\u0e32\u0e27\u0e40\u0e01\u0e34\u0e19\u0e01\u0e27\u0e48\u0e32\u0e08\u0e30\u0e2a\u0e48\u0e07\u0e44\u0e14\u0e49", "unavailable": "\u0e44\u0e21\u0e48\u0e2a\u0e32\u0e21\u0e32\u0e23\u0e16\u0e43\u0e0a\u0e49\u0e41\u0e0a\u0e17\u0e44\u0e14\u0e49: ", "reconnecting": "\u0e01\u0e33\u0e25\u0e31\u0e07\u0e40\u0e0a\u0e37\u0e48\u0e2d\u0e21\u0e15\u0e48\u0e2d\u0e43\u0e2b\u0e21\u0e48\u2026", "agent": "\u0e17\u0e35\u0e21\u0e2a\u0e19\u0e31\u0e1a\u0e2a\u0e19\u0e38\u0e19", "unread": "\u0e21\u0e35\u0e02\u0e49\u0e2d\u0e04\u0e27\u0e32\u0e21\u0e15\u0e2d\u0e1a\u0e01\u0e25\u0e31\u0e1a\u0e43\u0e2b\u0e21\u0e48"},
    ar: {"title": "\u0627\u0644\u062f\u0639\u0645", "open": "\u0641\u062a\u062d \u062f\u0631\u062f\u0634\u0629 {title}", "new_label": "\u0628\u062f\u0621 \u0645\u062d\u0627\u062f\u062b\u0629 \u062c\u062f\u064a\u062f\u0629", "new": "\u062f\u0631\u062f\u0634\u0629 \u062c\u062f\u064a\u062f\u0629", "close": "\u0625\u063a\u0644\u0627\u0642 \u0627\u0644\u062f\u0631\u062f\u0634\u0629", "conversation": "\u0627\u0644\u0645\u062d\u0627\u062f\u062b\u0629", "your_message": "\u0631\u0633\u0627\u0644\u062a\u0643", "placeholder": "\u0627\u0637\u0631\u062d \u0633\u0624\u0627\u0644\u0627\u064b\u2026", "send": "\u0625\u0631\u0633\u0627\u0644", "you": "\u0623\u0646\u062a: ", "sources": "\u0627\u0644\u0645\u0635\u0627\u062f\u0631:", "actions": "\u0627\u0644\u0625\u062c\u0631\u0627\u0621\u0627\u062a \u0627\u0644\u0645\u0642\u062a\u0631\u062d\u0629", "handover": "\u062c\u0627\u0631\u064d \u062a\u0648\u0635\u064a\u0644\u0643 \u0628\u0623\u062d\u062f \u0627\u0644\u0645\u0648\u0638\u0641\u064a\u0646\u2026 \u0633\u064a\u0631\u062f \u0639\u0644\u064a\u0643 \u0647\u0646\u0627.", "helpful": "\u0647\u0644 \u0623\u062c\u0627\u0628 \u0647\u0630\u0627 \u0639\u0646 \u0633\u0624\u0627\u0644\u0643\u061f", "yes": "\u0646\u0639\u0645\u060c \u0623\u062c\u0627\u0628", "no": "\u0644\u0627\u060c \u0644\u0645 \u064a\u064f\u062c\u0628", "failed": "\u062d\u062f\u062b \u062e\u0637\u0623 \u0645\u0627.", "too_long": "\u0647\u0630\u0647 \u0627\u0644\u0631\u0633\u0627\u0644\u0629 \u0623\u0637\u0648\u0644 \u0645\u0646 \u0623\u0646 \u062a\u064f\u0631\u0633\u0644.", "unavailable": "\u0627\u0644\u062f\u0631\u062f\u0634\u0629 \u063a\u064a\u0631 \u0645\u062a\u0627\u062d\u0629: ", "reconnecting": "\u062c\u0627\u0631\u064d \u0625\u0639\u0627\u062f\u0629 \u0627\u0644\u0627\u062a\u0635\u0627\u0644\u2026", "agent": "\u0641\u0631\u064a\u0642 \u0627\u0644\u062f\u0639\u0645", "unread": "\u0631\u062f \u062c\u062f\u064a\u062f"},
    hi: {"title": "\u0938\u0939\u093e\u092f\u0924\u093e", "open": "{title} \u091a\u0948\u091f \u0916\u094b\u0932\u0947\u0902", "new_label": "\u0928\u0908 \u092c\u093e\u0924\u091a\u0940\u0924 \u0936\u0941\u0930\u0942 \u0915\u0930\u0947\u0902", "new": "\u0928\u0908 \u091a\u0948\u091f", "close": "\u091a\u0948\u091f \u092c\u0902\u0926 \u0915\u0930\u0947\u0902", "conversation": "\u092c\u093e\u0924\u091a\u0940\u0924", "your_message": "\u0906\u092a\u0915\u093e \u0938\u0902\u0926\u0947\u0936", "placeholder": "\u0915\u094b\u0908 \u092a\u094d\u0930\u0936\u094d\u0928 \u092a\u0942\u091b\u0947\u0902\u2026", "send": "\u092d\u0947\u091c\u0947\u0902", "you": "\u0906\u092a: ", "sources": "\u0938\u094d\u0930\u094b\u0924:", "actions": "\u0938\u0941\u091d\u093e\u0908 \u0917\u0908 \u0915\u093e\u0930\u094d\u0930\u0935\u093e\u0907\u092f\u093e\u0901", "handover": "\u0906\u092a\u0915\u094b \u0915\u093f\u0938\u0940 \u092a\u094d\u0930\u0924\u093f\u0928\u093f\u0927\u093f \u0938\u0947 \u091c\u094b\u0921\u093c\u093e \u091c\u093e \u0930\u0939\u093e \u0939\u0948\u2026 \u0935\u0947 \u092f\u0939\u0940\u0902 \u091c\u0935\u093e\u092c \u0926\u0947\u0902\u0917\u0947\u0964", "helpful": "\u0915\u094d\u092f\u093e \u0907\u0938\u0938\u0947 \u0906\u092a\u0915\u0947 \u092a\u094d\u0930\u0936\u094d\u0928 \u0915\u093e \u0909\u0924\u094d\u0924\u0930 \u092e\u093f\u0932\u093e?", "yes": "\u0939\u093e\u0901, \u092e\u093f\u0932\u093e", "no": "\u0928\u0939\u0940\u0902, \u0928\u0939\u0940\u0902 \u092e\u093f\u0932\u093e", "failed": "\u0915\u0941\u091b \u0917\u0932\u0924 \u0939\u094b \u0917\u092f\u093e\u0964", "too_long": "\u092f\u0939 \u0938\u0902\u0926\u0947\u0936 \u092d\u0947\u091c\u0928\u0947 \u0915\u0947 \u0932\u093f\u090f \u092c\u0939\u0941\u0924 \u0932\u0902\u092c\u093e \u0939\u0948\u0964", "unavailable": "\u091a\u0948\u091f \u0909\u092a\u0932\u092c\u094d\u0927 \u0928\u0939\u0940\u0902 \u0939\u0948: ", "reconnecting": "\u092b\u093f\u0930 \u0938\u0947 \u0915\u0928\u0947\u0915\u094d\u091f \u0939\u094b \u0930\u0939\u093e \u0939\u0948\u2026", "agent": "\u0938\u0939\u093e\u092f\u0924\u093e \u091f\u0940\u092e", "unread": "\u0928\u092f\u093e \u091c\u0935\u093e\u092c"}
  };
  function language() {
    var wanted = [data.lang, document.documentElement.lang, navigator.language];
    for (var i = 0; i < wanted.length; i++) {
      var code = String(wanted[i] || "").toLowerCase().split(/[-_]/)[0];
      if (code === "en" || Object.prototype.hasOwnProperty.call(LABELS, code)) return code;
      if (code && i === 0) break;  // a language the site asked for and we lack: English, not the browser's
    }
    return "en";
  }
  var uiLang = language();
  function t(key) { return (LABELS[uiLang] || {})[key] || EN[key]; }
  var title = data.title || t("title");

  var CSS = [
    ":host{all:initial}",
    "*{box-sizing:border-box;font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}",
    ".bubble{position:fixed;right:20px;bottom:20px;width:60px;height:60px;border-radius:50%;border:0;display:flex;align-items:center;justify-content:center;",
    "background:#1f4fd1;color:#fff;font-size:26px;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25);z-index:2147483646}",
    ".bubble:focus-visible,button:focus-visible,textarea:focus-visible,a:focus-visible{outline:3px solid #ffbf47;outline-offset:2px}",
    ".panel{position:fixed;right:20px;bottom:92px;width:380px;max-width:calc(100vw - 40px);height:620px;",
    "max-height:calc(100vh - 120px);background:#fff;color:#1b1b1b;border-radius:14px;display:flex;",
    "flex-direction:column;box-shadow:0 8px 30px rgba(0,0,0,.25);overflow:hidden;z-index:2147483647}",
    ".panel[hidden]{display:none}",
    "header{background:#1f4fd1;color:#fff;padding:12px 14px;display:flex;align-items:center;gap:8px}",
    "header h2{font-size:16px;margin:0;flex:1}",
    "header button{background:transparent;border:1px solid rgba(255,255,255,.6);color:#fff;border-radius:6px;",
    "padding:4px 8px;cursor:pointer;font-size:13px}",
    ".conn{font-size:12px;padding:4px 14px;background:#fff4ce;color:#5c4400}",
    ".conn:empty{display:none}",
    ".log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:10px;font-size:14px;line-height:1.45}",
    ".msg{max-width:88%;padding:8px 11px;border-radius:12px;word-wrap:break-word;overflow-wrap:anywhere}",
    ".user{align-self:flex-end;background:#1f4fd1;color:#fff;white-space:pre-wrap}",
    ".user.failed{background:#b3261e}",
    ".bot{align-self:flex-start;background:#f1f3f6}",
    ".bot p{margin:0 0 6px}.bot p:last-child{margin-bottom:0}.bot ul,.bot ol{margin:4px 0;padding-left:20px}",
    ".bot code{background:#e2e6ec;padding:0 3px;border-radius:3px;font-family:ui-monospace,monospace}",
    ".bot a{color:#1f4fd1}",
    ".bubble.unread::after{content:'';position:absolute;top:4px;right:4px;width:14px;height:14px;border-radius:50%;background:#d93025;border:2px solid #fff}",
    ".msg.relayed{background:transparent;color:#555;font-size:12px;padding:0 11px}.msg[hidden]{display:none}",
    ".bot.agent{background:#eaf1ff;border-left:3px solid #1f4fd1}.author{font-size:12px;font-weight:600;color:#1f3a8a;margin-bottom:2px}",
    ".status{font-style:italic;color:#555}.user .note{font-size:12px;font-style:italic;opacity:.85;margin-top:4px}",
    ".sources{margin-top:6px;font-size:12px;color:#444}.sources ul{margin:2px 0;padding-left:16px}",
    ".actions{margin-top:8px;display:flex;flex-wrap:wrap;gap:6px}",
    ".actions button{border:1px solid #1f4fd1;background:#fff;color:#1f4fd1;border-radius:16px;padding:4px 10px;",
    "cursor:pointer;font-size:13px}",
    ".feedback{margin-top:6px;font-size:12px;color:#444;display:flex;align-items:center;gap:6px}",
    ".feedback button{border:1px solid #bbb;background:#fff;color:#333;border-radius:6px;cursor:pointer;padding:2px 6px;line-height:0}",
    ".feedback button[aria-pressed=true]{background:#dce6ff;border-color:#1f4fd1}",
    ".handover{margin-top:8px;font-size:13px;color:#0b5a2a;background:#e3f5e9;border-radius:8px;padding:6px 8px}",
    ".error{color:#b3261e;font-size:12px;margin-top:4px}",
    "form{display:flex;gap:8px;padding:10px;border-top:1px solid #e3e3e3}",
    "textarea{flex:1;resize:none;border:1px solid #bbb;border-radius:8px;padding:8px;font-size:14px;height:42px}",
    "form button{background:#1f4fd1;color:#fff;border:0;border-radius:8px;padding:0 14px;cursor:pointer;font-size:14px}",
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}",
    "@media (max-width:480px){.panel{right:0;bottom:0;width:100vw;max-width:100vw;height:100%;max-height:100%;border-radius:0}",
    ".bubble{right:14px;bottom:14px}}"
  ].join("");

  // --- elements ----------------------------------------------------------------------------------------
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    for (var name in attrs || {}) node.setAttribute(name, attrs[name]);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  var host = el("div", { id: "switchboard-widget", lang: uiLang, dir: uiLang === "ar" ? "rtl" : "ltr" });
  var root = host.attachShadow({ mode: "open" });
  root.appendChild(el("style", {}, CSS));
  // Icons are inline SVG (Material Icons paths, Apache-2.0): emoji fonts are missing on many machines.
  var ICONS = {
    chat: "M20 2H4c-1.1 0-2 .9-2 2v18l4-4h14c1.1 0 2-.9 2-2V4c0-1.1-.9-2-2-2z",
    up: "M1 21h4V9H1v12zm22-11c0-1.1-.9-2-2-2h-6.31l.95-4.57.03-.32c0-.41-.17-.79-.44-1.06L14.17 1 7.59 " +
      "7.59C7.22 7.95 7 8.45 7 9v10c0 1.1.9 2 2 2h9c.83 0 1.54-.5 1.84-1.22l3.02-7.05c.09-.23.14-.47.14-.73v-2z"
  };
  function icon(name, size, flip) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", size);
    svg.setAttribute("height", size);
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("fill", "currentColor");
    if (flip) svg.setAttribute("transform", "rotate(180)");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("d", ICONS[name]);
    svg.appendChild(path);
    return svg;
  }
  var bubble = el("button", { class: "bubble", type: "button", "aria-label": t("open").split("{title}").join(title),
    "aria-expanded": "false", "aria-controls": "sb-panel" });
  bubble.appendChild(icon("chat", "28"));
  var panel = el("section", { class: "panel", id: "sb-panel", role: "dialog", "aria-label": title });
  panel.hidden = true;
  var header = el("header");
  header.appendChild(el("h2", {}, title));
  var fresh = el("button", { type: "button", "aria-label": t("new_label") }, t("new"));
  var close = el("button", { type: "button", "aria-label": t("close") }, "\u2715");
  header.appendChild(fresh);
  header.appendChild(close);
  var conn = el("div", { class: "conn", role: "status" });
  var log = el("div", { class: "log", role: "log", "aria-live": "polite", "aria-label": t("conversation"), tabindex: "0" });
  var form = el("form");
  var label = el("label", { class: "sr", for: "sb-input" }, t("your_message"));
  var input = el("textarea", { id: "sb-input", rows: "1", maxlength: "4000", placeholder: t("placeholder") });
  var send = el("button", { type: "submit" }, t("send"));
  form.appendChild(label);
  form.appendChild(input);
  form.appendChild(send);
  panel.appendChild(header);
  panel.appendChild(conn);
  panel.appendChild(log);
  panel.appendChild(form);
  root.appendChild(bubble);
  root.appendChild(panel);
  (document.body || document.documentElement).appendChild(host);

  function unread(on) {
    bubble.classList.toggle("unread", on);
    var opens = t("open").split("{title}").join(title);
    if (panel.hidden) bubble.setAttribute("aria-label", on ? opens + " (" + t("unread") + ")" : opens);
  }
  function seen() {
    if (!panel.hidden && lastSeq > (state.seen || 0)) { state.seen = lastSeq; save(); }
  }
  function setOpen(open) {
    panel.hidden = !open;
    if (open) { unread(false); seen(); }
    bubble.setAttribute("aria-expanded", String(open));
    bubble.setAttribute("aria-label", open ? t("close") : t("open").split("{title}").join(title));
    if (open) { input.focus(); scrollDown(); connect(); } else { bubble.focus(); }
  }
  bubble.addEventListener("click", function () { setOpen(panel.hidden); });
  close.addEventListener("click", function () { setOpen(false); });
  panel.addEventListener("keydown", function (e) { if (e.key === "Escape") setOpen(false); });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
  });
  // the browser cuts a paste at maxlength without a word: say so while the message is at the limit
  input.addEventListener("input", function () {
    if (input.value.length >= Number(input.getAttribute("maxlength"))) conn.textContent = t("too_long");
    else if (conn.textContent === t("too_long")) conn.textContent = "";
  });
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    var id = clientId();
    userBubble(id, text);
    queue({ type: "message", text: text, client_id: id });
  });
  function clearLog() {
    log.textContent = "";
    bubbles = {};
    lastSeq = 0;
    state.seen = 0;  // another conversation's numbers: none of them seen yet
  }
  fresh.addEventListener("click", function () {
    state.conversation_id = "c-" + clientId();
    clearLog();
    save();
    openedNow = true;
    pending = [];
    keepUnsent();
    if (socket) { restarting = true; socket.close(1000, "new conversation"); }
  });

  // --- markdown, safely: only text nodes and a few known elements ---------------------------------------
  var INLINE = /(`[^`\n]+`)|(\*\*[^*\n]+\*\*)|(\*[^*\n]+\*|_[^_\n]+_)|(\[[^\]\n]+\]\((https?:\/\/[^\s)]+)\))|(https?:\/\/[^\s<>()]+[^\s<>().,;:!?'"])/g;
  function link(href, text) {
    var a = el("a", { href: href, target: "_blank", rel: "noopener noreferrer nofollow" }, text);
    return a;
  }
  function inline(parent, text) {
    var at = 0, m;
    INLINE.lastIndex = 0;
    while ((m = INLINE.exec(text)) !== null) {
      if (m.index > at) parent.appendChild(document.createTextNode(text.slice(at, m.index)));
      if (m[1]) parent.appendChild(el("code", {}, m[1].slice(1, -1)));
      else if (m[2]) parent.appendChild(el("strong", {}, m[2].slice(2, -2)));
      else if (m[3]) parent.appendChild(el("em", {}, m[3].slice(1, -1)));
      else if (m[4]) parent.appendChild(link(m[5], m[4].slice(1, m[4].indexOf("]("))));
      else parent.appendChild(link(m[6], m[6]));
      at = INLINE.lastIndex;
    }
    if (at < text.length) parent.appendChild(document.createTextNode(text.slice(at)));
  }
  function markdown(target, text) {
    target.textContent = "";
    var blocks = text.replace(/\r/g, "").split(/\n{2,}/);
    blocks.forEach(function (block) {
      var lines = block.split("\n").filter(function (l) { return l.trim(); });
      if (!lines.length) return;
      var bullets = lines.every(function (l) { return /^\s*([-*\u2022])\s+/.test(l); });
      var numbered = lines.every(function (l) { return /^\s*\d+[.)]\s+/.test(l); });
      if (bullets || numbered) {
        var list = el(bullets ? "ul" : "ol");
        lines.forEach(function (l) {
          var item = el("li");
          inline(item, l.replace(/^\s*([-*\u2022]|\d+[.)])\s+/, ""));
          list.appendChild(item);
        });
        target.appendChild(list);
        return;
      }
      var p = el("p");
      lines.forEach(function (l, i) {
        if (i) p.appendChild(el("br"));
        inline(p, l);
      });
      target.appendChild(p);
    });
  }

  // --- the conversation on the page ---------------------------------------------------------------------
  var bubbles = {};  // message id or client id -> element
  function scrollDown() { log.scrollTop = log.scrollHeight; }
  function userBubble(id, text, fromServer) {
    var node = bubbles["c:" + id];
    if (!node) {
      node = el("div", { class: "msg user", "data-client-id": id });
      node.appendChild(el("span", { class: "sr" }, t("you")));
      node.appendChild(el("span", { dir: "auto" }, text));  // Arabic in an English page, or the reverse
      bubbles["c:" + id] = node;
      log.appendChild(node);
      if (fromServer) unsentLast();  // typed here: the newest of all, already last
      scrollDown();
    }
    return node;
  }
  // Messages the server has not taken yet are the newest: frames replayed after a reconnect or a reload
  // (answers to earlier questions) go above them.
  function unsentLast() {
    pending.forEach(function (f) {
      var node = bubbles["c:" + f.client_id];
      if (node && node.parentNode === log && node !== log.lastChild) log.appendChild(node);
    });
  }
  function waiting(node, text) {
    var note = node.querySelector(".note");
    if (!text) { if (note) note.remove(); return; }
    if (!note) { note = el("div", { class: "note", role: "status" }); node.appendChild(note); }
    note.textContent = text;
  }
  function botBubble(messageId) {
    var node = bubbles["m:" + messageId];
    if (!node) {
      node = el("div", { class: "msg bot", "data-message-id": messageId });
      node.appendChild(el("span", { class: "sr" }, title + ": "));
      node.appendChild(el("div", { class: "status" }));
      node.appendChild(el("div", { class: "text", dir: "auto" }));
      node.raw = "";
      bubbles["m:" + messageId] = node;
      // under its own question: questions sent back to back are answered in turn, and a reload replays
      // the answers (their first frames are not kept) after every question
      var asked = null;
      log.querySelectorAll(".msg.user").forEach(function (q) {
        if (q.getAttribute("data-message-id") === messageId) asked = q;
      });
      if (asked && asked.nextSibling) log.insertBefore(node, asked.nextSibling); else log.appendChild(node);
      unsentLast();
    }
    return node;
  }
  function part(node, cls) { return node.querySelector("." + cls); }
  function final(frame) {
    var node = botBubble(frame.message_id), reply = frame.reply;
    part(node, "status").textContent = "";
    node.raw = reply.response;
    markdown(part(node, "text"), reply.response);
    node.setAttribute("data-final", "true");
    node.setAttribute("aria-busy", "false");
    // a person of the support team wrote it (after a hand-over): said so, with their name when they gave one
    var person = reply.metadata && reply.metadata.intent === "agent_reply";
    if (reply.metadata && reply.metadata.intent === "relayed_to_agent") {  // "passed on": one line, the latest
      log.querySelectorAll(".msg.relayed").forEach(function (earlier) { if (earlier !== node) earlier.hidden = true; });
      node.classList.add("relayed");
    }
    // news while the chat is closed (a person's reply, an order's): a dot on the button says so
    var unasked = person || (reply.metadata && reply.metadata.intent === "order_notice");
    if (unasked && panel.hidden && frame.seq > (state.seen || 0)) unread(true);
    if (person && !part(node, "author")) {
      var who = (reply.metadata.agent ? String(reply.metadata.agent) + " \u00b7 " : "") + t("agent");
      node.classList.add("agent");
      node.querySelector(".sr").textContent = who + ": ";
      node.insertBefore(el("div", { class: "author", "aria-hidden": "true" }, who), part(node, "status"));
    }
    // hand-overs and refusals speak the customer's language: their text is read aloud in it (the widget's
    // own labels around it stay in the page's language)
    var lang = (reply.metadata && /^[a-z]{2,3}$/.test(reply.metadata.language || "")) ? reply.metadata.language : "";
    if (lang) part(node, "text").setAttribute("lang", lang); else part(node, "text").removeAttribute("lang");
    if (reply.sources && reply.sources.length && !part(node, "sources")) {
      var sources = el("div", { class: "sources" }, t("sources"));
      var list = el("ul");
      reply.sources.forEach(function (url) {
        var item = el("li");
        url = String(url);
        if (/^https?:\/\//.test(url)) item.appendChild(link(url, url.replace(/^https?:\/\//, "")));
        else item.textContent = url;  // a file path, or anything else: never a link
        list.appendChild(item);
      });
      sources.appendChild(list);
      node.appendChild(sources);
    }
    if (reply.actions && reply.actions.length && !part(node, "actions")) {
      var actions = el("div", { class: "actions", role: "group", "aria-label": t("actions") });
      reply.actions.forEach(function (a) {
        var button = el("button", { type: "button", "data-action": a.action }, a.label);
        button.addEventListener("click", function () {
          var id = clientId();
          userBubble(id, a.label);
          queue({ type: "action", action: a.action, value: a.value || "", label: a.label, client_id: id });
        });
        actions.appendChild(button);
      });
      node.appendChild(actions);
    }
    // a line in another language than the reply's would only repeat its hand-over words in a second language
    if (reply.metadata && reply.metadata.escalated && (!lang || lang === uiLang) && !part(node, "handover")) {
      node.appendChild(el("div", { class: "handover", role: "status" },
        t("handover")));
    }
    // "Did this answer your question?" under a plain hand-over asks about nothing (one that shows the closest
    // sentences keeps it: they may have answered it)
    var handedOver = reply.metadata && reply.metadata.escalated && !(reply.sources && reply.sources.length);
    // nor under a person's words, our "passed on to the agent" or an order's news: none answered a question
    var intent = reply.metadata && reply.metadata.intent;
    var asked = intent !== "relayed_to_agent" && intent !== "order_notice";
    if (!handedOver && !person && asked && !part(node, "feedback")) {
      var box = el("div", { class: "feedback", role: "group", "aria-label": t("helpful") });
      box.appendChild(el("span", {}, t("helpful")));
      [["up", t("yes")], ["down", t("no")]].forEach(function (v) {
        var b = el("button", { type: "button", "data-vote": v[0], "aria-label": v[1], "aria-pressed": "false" });
        b.appendChild(icon("up", "14", v[0] === "down"));
        b.addEventListener("click", function () {
          queue({ type: "feedback", message_id: frame.message_id, value: v[0] });
          voted(frame.message_id, v[0]);
        });
        box.appendChild(b);
      });
      node.appendChild(box);
    }
    scrollDown();
  }
  function voted(messageId, value) {
    var node = bubbles["m:" + messageId];
    if (!node) return;
    var focused = false;
    node.querySelectorAll(".feedback button").forEach(function (b) {
      b.setAttribute("aria-pressed", String(b.getAttribute("data-vote") === value));
      focused = focused || b === root.activeElement;
      b.disabled = true;
    });
    if (focused) input.focus();  // a disabled button drops the focus to the page: keyboard users lose their place
  }
  function failed(clientIdValue, message) {
    var node = bubbles["c:" + clientIdValue];
    pending = pending.filter(function (f) { return f.client_id !== clientIdValue; });
    keepUnsent();
    if (!node) return;
    waiting(node, "");
    node.classList.add("failed");
    node.appendChild(el("div", { class: "error", role: "alert" }, message));
  }

  // --- frames from the server -----------------------------------------------------------------------------
  var lastSeq = 0;
  function onFrame(frame) {
    if (frame.seq !== undefined) {
      if (frame.seq <= lastSeq) return;  // already shown (a replay overlapping what arrived live)
      lastSeq = frame.seq;
    }
    seen();
    switch (frame.type) {
      case "ready":
        conn.textContent = "";
        if (frame.max_frame_bytes) maxFrameBytes = frame.max_frame_bytes - 512;
        if (seenUser && frame.user_id !== seenUser) {  // another session's numbers: start the page again
          seenUser = frame.user_id;
          clearLog();
          openedNow = true;
          restarting = true;
          if (socket) socket.close(1000, "new session");
          return;
        }
        seenUser = frame.user_id;
        openedNow = false;  // the hello that said so was taken
        takeRestored(frame.user_id);  // typed before a reload, as this user: shown and sent; anyone else's: dropped
        flush(true);
        keepUnsent();
        return;
      case "reset":  // the server holds less than we have seen (a new session): start the page again
        clearLog();
        return;
      case "message":
        pending = pending.filter(function (f) { return f.client_id !== frame.client_id; });
        keepUnsent();
        var asked = userBubble(frame.client_id, frame.text, true);
        asked.setAttribute("data-message-id", frame.message_id);
        waiting(asked, "");
        return;
      case "status":
        var node = botBubble(frame.message_id);
        if (!node.raw) part(node, "status").textContent = frame.text;
        scrollDown();
        return;
      case "token":
        var bot = botBubble(frame.message_id);
        if (bot.getAttribute("data-final")) return;
        bot.setAttribute("aria-busy", "true");  // screen readers hear the answer once, when it is whole
        part(bot, "status").textContent = "";
        bot.raw += frame.text;
        markdown(part(bot, "text"), bot.raw);
        scrollDown();
        return;
      case "final":
        final(frame);
        return;
      case "feedback":
        voted(frame.message_id, frame.value);
        return;
      case "elsewhere":  // a person answered the conversation left with "New chat": back to it, to talk there
        var back = frame.conversation_id;
        if (typeof back !== "string" || !/^[A-Za-z0-9_.:@+-]{1,128}$/.test(back) || back === state.conversation_id) return;
        if (!firstFollow(String(frame.message_id))) return;  // followed once (a replay, another tab): never again
        state.conversation_id = back;
        clearLog();
        save();
        openedNow = true;
        // what was typed and not yet sent goes along, to that person; what was sent is answered where it went
        pending = pending.filter(function (f) { return (!f.sent || f.refused) && f.type === "message"; });
        pending.forEach(function (f) { userBubble(f.client_id, f.text); });
        keepUnsent();
        if (panel.hidden) unread(true);
        if (socket) { restarting = true; socket.close(1000, "back to the hand-over"); }
        return;
      case "error":
        if (frame.client_id && (frame.code === "rate_limited" || frame.code === "busy") && later(frame)) return;
        if (frame.client_id) failed(frame.client_id, frame.message);
        else if (frame.message_id) {
          var target = botBubble(frame.message_id);
          target.setAttribute("aria-busy", "false");
          part(target, "status").textContent = "";
          target.appendChild(el("div", { class: "error", role: "alert" }, frame.message || t("failed")));
        } else conn.textContent = frame.message;
        return;
    }
  }

  // --- the session and the socket ---------------------------------------------------------------------
  // Kept across reloads: the conversation id, and an anonymous session's token. A token your back end
  // issued names a signed-in user: it stays in memory only, so the next person on a shared browser
  // cannot pick it up.
  var named = Boolean(data.token || data.sessionUrl);
  var state = {};
  try { state = JSON.parse(localStorage.getItem(storeKey) || "{}") || {}; } catch (e) { state = {}; }
  if (named) { state.token = null; state.expires_at = 0; }
  if (data.token) { state.token = data.token; state.expires_at = tokenExpiry(data.token); }
  if (!state.conversation_id) state.conversation_id = "c-" + clientId();
  function save() {
    var kept = { conversation_id: state.conversation_id, seen: state.seen || 0 };
    if (!named) { kept.token = state.token; kept.expires_at = state.expires_at; }
    try { localStorage.setItem(storeKey, JSON.stringify(kept)); } catch (e) { /* private mode */ }
  }
  function tokenExpiry(token) {
    try {
      var part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(part + "===".slice((part.length + 3) % 4))).exp || 0;
    } catch (e) { return 0; }
  }
  save();
  function clientId() {
    var bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function newSession() {
    if (data.sessionUrl) {
      return fetch(data.sessionUrl, { credentials: "include", method: "POST" }).then(function (r) {
        if (!r.ok) throw new Error("your session could not be started (" + r.status + ")");
        return r.json();
      });
    }
    if (data.token) return Promise.reject(new Error("the chat session has expired; reload the page"));
    return fetch(server + "/api/session", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: "{}"
    }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) throw new Error((body.error && body.error.message) || "no session (" + r.status + ")");
        return body;
      });
    });
  }

  var socket = null, attempts = 0, pending = [], reconnectTimer = null, connecting = false, restarting = false;
  var openedNow = true, backlog = 0;  // openedNow: the next hello says the customer opened it
  var maxFrameBytes = 15000;  // until `ready` tells the server's web.max_frame_bytes
  var seenUser = null;
  function tooBig(frame) { return new Blob([JSON.stringify(frame)]).size > maxFrameBytes; }
  function queue(frame) {
    if (tooBig(frame)) {
      failed(frame.client_id, t("too_long"));
      return;
    }
    pending.push(frame);
    keepUnsent();
    flush(false);
  }
  // The server could not take a message yet (sent too fast, or its queue is full): it is sent again when
  // the server says, a few times, instead of being lost; a full queue's reply is shown meanwhile.
  function later(error) {
    var frame = pending.filter(function (f) { return f.client_id === error.client_id; })[0];
    if (!frame) return false;
    frame.tries = (frame.tries || 0) + 1;
    if (frame.tries > 5) return false;
    frame.refused = true;  // not taken: it may go along to another conversation
    var node = bubbles["c:" + error.client_id];
    if (node && error.code === "busy") waiting(node, error.message || "");
    // one at a time, each after the wait the server gave: several refused together do not all come back at once;
    // one timer a frame (a resend on reconnect clears `refused`, and the timer then has nothing to do)
    var seconds = Math.min(60, Math.max(1, Number(error.retry_after_s) || 2));
    if (frame.timer) { clearTimeout(frame.timer); backlog -= 1; }
    backlog += 1;
    frame.timer = setTimeout(function () {
      frame.timer = null;
      backlog -= 1;
      if (pending.indexOf(frame) < 0 || !frame.refused) return;  // taken, failed, dropped or sent again meanwhile
      if (socket && socket.readyState === 1 && socket.sbReady) { frame.refused = false; socket.send(wire(frame)); }
    }, Math.min(60, seconds * backlog) * 1000);
    return true;
  }
  // A pointer to a person's reply is followed once, whichever tab sees it first (localStorage, read afresh).
  var followedHere = [];  // where localStorage is off (private mode): this page's own record
  function firstFollow(id) {
    var key = "switchboard-followed:" + server, followed = followedHere;
    try { followed = JSON.parse(localStorage.getItem(key) || "[]"); } catch (e) { followed = followedHere; }
    if (!Array.isArray(followed)) followed = [];
    if (followed.indexOf(id) >= 0 || followedHere.indexOf(id) >= 0) return false;
    followed.push(id);
    followedHere.push(id);
    try { localStorage.setItem(key, JSON.stringify(followed.slice(-20))); } catch (e) { /* private mode */ }
    return true;
  }
  // What was typed and not yet taken by the server survives a reload of this tab (sessionStorage: this
  // tab only, gone when it closes). It is shown and sent again only once the server names the same user
  // it was typed as; a signed-in user's words are never left in the browser (as their token is not).
  // The server answers a client id once, so a message it had taken before the reload is not answered twice.
  var unsentKey = storeKey + ":unsent", restored = [], restoredUser = null;
  function keepUnsent() {
    var who = seenUser || tokenUser();
    if (named || !who) return;  // not known who this is: what is kept stays as it was
    var unsent = pending.filter(function (f) { return f.type === "message"; }).slice(-10);
    try {
      if (!unsent.length) { sessionStorage.removeItem(unsentKey); return; }
      sessionStorage.setItem(unsentKey, JSON.stringify({ user: who,
        messages: unsent.map(function (f) { return { client_id: f.client_id, text: f.text }; }) }));
    } catch (e) { /* storage full or off: only a reload loses them */ }
  }
  function tokenUser() {  // the user an anonymous session's token names (v1.<payload>.<mac>)
    try {
      var part = String(state.token || "").split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return String(JSON.parse(atob(part + "===".slice((part.length + 3) % 4))).u || "") || null;
    } catch (e) { return null; }
  }
  function takeRestored(user) {
    if (user === restoredUser) {  // typed before the reload: older than anything typed since, so first
      var older = restored.filter(function (f) {
        return !pending.some(function (p) { return p.client_id === f.client_id; });
      });
      pending = older.concat(pending);
      older.forEach(function (f) { userBubble(f.client_id, f.text); });
      unsentLast();
    }
    restored = [];
    restoredUser = null;
  }
  (function restore() {
    var kept = null;
    try {
      if (named) { sessionStorage.removeItem(unsentKey); return; }
      kept = JSON.parse(sessionStorage.getItem(unsentKey) || "null");
    } catch (e) { kept = null; }
    if (!kept || typeof kept.user !== "string" || !Array.isArray(kept.messages)) return;
    restoredUser = kept.user;
    kept.messages.slice(-10).forEach(function (m) {
      if (!m || typeof m.client_id !== "string" || typeof m.text !== "string" || !m.text) return;
      restored.push({ type: "message", text: m.text.slice(0, 4000), client_id: m.client_id });
    });
  })();
  function wire(frame) {  // the frame as the server reads it, without the widget's own bookkeeping
    return JSON.stringify(frame, function (key, value) {
      return key === "sent" || key === "tries" || key === "refused" || key === "timer" ? undefined : value;
    });
  }
  function flush(all) {
    // After a reconnect every message not yet echoed is sent again: the server answers a client id once.
    if (!socket || socket.readyState !== 1 || !socket.sbReady) return;
    pending.forEach(function (frame) {
      if (all || !frame.sent) { socket.send(wire(frame)); frame.sent = true; frame.refused = false; }
    });
    pending = pending.filter(function (f) { return f.type === "message" || f.type === "action"; });
  }
  function connect() {
    if (socket || reconnectTimer || connecting) return;
    connecting = true;
    var ready = state.token && state.expires_at > Date.now() / 1000 + 30 ? Promise.resolve(null) : newSession();
    ready.then(function (issued) {
      connecting = false;
      if (issued) { state.token = issued.token; state.expires_at = issued.expires_at || tokenExpiry(issued.token); save(); }
      open();
    }).catch(function (error) {
      connecting = false;
      conn.textContent = t("unavailable") + error.message;
      retry();
    });
  }
  function open() {
    var ws = new WebSocket(socketUrl);
    var opened = Date.now();
    socket = ws;
    ws.onopen = function () {
      // `opened`: the customer opened this conversation now (the page, "New chat", back to a hand-over), not
      // a reconnect: a person's reply to another of their conversations points here
      ws.send(JSON.stringify({ type: "hello", token: state.token, conversation_id: state.conversation_id, after: lastSeq,
        opened: openedNow }));
    };
    ws.onmessage = function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      if (frame.type === "ready") ws.sbReady = true;
      onFrame(frame);
    };
    ws.onclose = function (event) {
      if (socket === ws) socket = null;
      if (Date.now() - opened > 10000) attempts = 0;  // it was working: reconnect quickly
      if (event.code === 4401) { state.token = null; state.expires_at = 0; save(); }  // a new session next
      if (event.code === 4400) { state.conversation_id = "c-" + clientId(); clearLog(); save(); openedNow = true; }
      if (event.code === 1009) {  // a frame was too big: never send it again
        pending.filter(tooBig).forEach(function (f) { failed(f.client_id, t("too_long")); });
      }
      if (restarting) { restarting = false; connect(); return; }
      conn.textContent = t("reconnecting");
      retry();
    };
  }
  function retry() {
    if (reconnectTimer) return;
    var delay = Math.min(10000, 400 * Math.pow(2, attempts++)) * (0.75 + Math.random() / 2);
    reconnectTimer = setTimeout(function () { reconnectTimer = null; connect(); }, delay);
  }

  window.SwitchboardWidget = { open: function () { setOpen(true); }, close: function () { setOpen(false); } };
  if (data.open === "true" || state.conversation_id && state.token) connect();
  if (data.open === "true") setOpen(true);
})();
