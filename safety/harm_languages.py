"""Self-harm said in other languages, and the caring reply in the customer's language.

The English rules (safety/toxicity.py) and the learned detector (MiniLM, trained mostly on European
languages) miss "我不想活了", "死にたい", "죽고 싶어", "хочу умереть". Each language here has the phrases of
wanting to die, to kill or hurt oneself or to stop living, written so that the figures of speech built
from the same words pass: Chinese 笑死 / 累死了 / 想死你了 (miss you) / 跳楼价 (rock-bottom price) / 死机,
Japanese 死ぬほど美味しい / 殺到, Korean 배고파 죽겠다, Dutch "ik ga dood van de honger", Indonesian "hp
saya mati". Scripts without spaces between words (Chinese, Japanese, Thai) are matched without word
boundaries.
"""

from __future__ import annotations

import re
import unicodedata

from engine.language import detect_language, script_of

_PHRASES: dict[str, str] = {
    "zh": (
        r"自杀(?!门)|自殺(?!門)|紫砂|轻生|輕生|寻死|尋死|自尽|自盡|割腕|自残|自殘|自伤|自傷|跳楼(?!价|價|大甩卖|甩卖)|跳樓(?!價|大拍賣)"
        r"|不想活|活不下去|活着没意思|活著沒意思|活着没有意义|活著沒有意義|想去死|好想死|真想死|很想死"
        r"|(?:我|真的|就是|只)想死(?!你|您|他|她|大家)|不想再活|死了算了|不如去死|去死算了"
        r"|(?:用刀|拿刀)?(?:割|划)(?:自己|手腕|手臂)|跳(?:河|江|下去)(?!价|價)|(?:把一切|一切)结束掉?|吃掉一整瓶|結束(?:自己的)?生命|结束(?:自己的)?生命|了结自己|了結自己|结束这一切|結束這一切|不如死了"
        r"|(?:攒|囤)了?(?:很多|一堆)?安眠药|(?:攢|囤)了?(?:很多|一堆)?安眠藥"
        r"|(?:吞|吃)了?(?:一整瓶|一瓶|整瓶|一把|很多)(?:安眠药|安眠藥|药|藥)|(?<!不)(?:想|忍不住)(?:去)?(?:伤害|傷害)(?:我)?自己(?!的)"
    ),
    "ja": (
        r"(?<!恥ずかしくて)(?<!恥ずかしすぎて)死にたい|自殺|消えたい|生きていたくない|生きたくない"
        r"|生きるのが(?:辛|つら|しんど)い|首を吊|首吊り|リスカ|リストカット|自傷|命を絶|飛び降りたい|飛び降りるつもり"
        r"|死のうと(?:思|して)|しにたい|タヒにたい|氏にたい|死ぬしかない|(?:電車|線路)に飛び込|飛び降り(?:る|ます|よう)"
        r"|(?:腕|手首)を切|カッターで(?:腕|手首|自分)|自分を傷つけ|ODして|オーバードーズ|薬を全部飲"
    ),
    "ko": (
        r"죽고\s?싶|자살|살고\s?싶지\s?않|극단적\s?선택|자해|목숨을\s?끊|뛰어내리고\s?싶|죽어\s?버리고\s?싶|사라지고\s?싶"
        r"|살\s?이유가\s?없|더\s?이상\s?살\s?수\s?없|ㅈㅅ\s?하고\s?싶|죽어\s?버릴|뛰어\s?내릴\s?거|손목을?\s?(?:그었|긋)"
        r"|칼로\s?(?:손목|팔)|죽으려고|(?:제|내)\s?삶을\s?끝내(?!주)"
        r"|수면제(?:을|를)?\s?(?:다\s?)?(?:모아\s?(?:놨|뒀|두고)|모았|한꺼번에\s?(?:다\s?)?먹)"
    ),
    "ru": (
        r"хочу\s+умереть|хочется\s+умереть|покончить\s+с\s+собой|покончу\s+с\s+собой|суицид|самоубийств|не\s+хочу\s+жить"
        r"|жить\s+не\s+хочу|жить\s+не\s+хочется|убить\s+себя|убью\s+себя|повеситься|повешусь|вскрыть\s+вены|наложить\s+на\s+себя\s+руки"
        r"|режу\s+(?:руки|себя|вены)|(?:порезать|резать)\s+себя|выпилюсь|выпилиться|спрыгну\s+с\s+(?:крыши|моста)"
        r"|наглотаюсь|наглотаться\s+таблеток|уйти\s+из\s+жизни"
    ),
    "ar": (
        r"أريد\s+أن\s+أموت|اريد\s+ان\s+اموت|أريد\s+الموت|اريد\s+الموت|أتمنى\s+الموت|انتحار|أنتحر|انتحر|سأنتحر"
        r"|أقتل\s+نفسي|اقتل\s+نفسي|لا\s+أريد\s+أن\s+أعيش|لا\s+اريد\s+ان\s+اعيش|لا\s+أريد\s+العيش|انهي\s+حياتي|أنهي\s+حياتي"
        r"|أجرح\s+نفسي|اجرح\s+نفسي|أؤذي\s+نفسي|اؤذي\s+نفسي|\b(?:3ayez|3ayza|3ayz|bidd?i|badd?i)\s+a?mou?t\b"
    ),
    "hi": (
        r"आत्महत्या|ख़ुदकुशी|खुदकुशी|मरना\s+चाहत|मर\s+जाना\s+चाहत|जीना\s+नहीं\s+चाहत|खुद\s+को\s+मार|अपनी\s+जान\s+ले"
        r"|\b(?:marna|mar\s+jana|mar\s+jaana)\s+chaht[aie]|\bkhud(?:kushi|\s+ko\s+maar)|\bjeena\s+nahi\s+chaht[aie]"
        r"|\bsuicide\s+kar|\bapni\s+jaan\s+le|(?:खुद|ख़ुद)\s+को\s+(?:\S+\s+से\s+)?काट|नस\s+काट|फांसी\s+लगा|(?:ज़हर|जहर)\s+खा"
        r"|\b(?:khud\s+ko\s+kaat|nas\s+kaat|fansi\s+laga|(?:zeher|zehar|jeher)\s+kha)"
        r"|जीने\s+का\s+(?:मन|मान)\s+नहीं|(?:खुद|ख़ुद|अपने\s+आप)\s+को\s+(?:नुकसान|नुक़सान|चोट)\s+पहु(?:ँ|ं)?चा(?:ना\s+चाह|\s*दू|\s*लू)"
        r"|\b(?:jeene|jine)\s+ka\s+(?:mann?|dil)\s+nahi|\b(?:khud|apne\s+aap)\s+ko\s+(?:nuksaan|nuksan|nuqsan|chot)\s+"
        r"(?:pahunch|pohonch|pahuch)\w*\s+(?:chaht|dena\s+chaht|du\b|doon|dun\b)"
    ),
    "tr": (
        r"\b(?:ölmek\s+istiyorum|intihar|kendimi\s+öldür|yaşamak\s+istemiyorum|canıma\s+kıy|hayatıma\s+son\s+ver"
        r"|kendimi\s+asacağım|(?:kollarımı|bileklerimi|kendimi)\s+(?:jiletle\s+)?kes|köprüden\s+atla)"
    ),
    "id": (
        r"\b(?:bunuh\s+diri|ingin\s+mati|pengen\s+mati|pingin\s+mati|mau\s+mati\s+aja|nak\s+mati|mengakhiri\s+hidup"
        r"|tidak\s+ingin\s+hidup|gak\s+mau\s+hidup|ga\s+mau\s+hidup|tak\s+nak\s+hidup|(?:aku|saya|gue|gw)\s+mau\s+mati"
        r"|(?:me)?nyilet\s+(?:tangan|diri|lengan)|sayat\s+(?:tangan|diri)|melukai\s+diri|lompat\s+dari\s+(?:gedung|jembatan)"
        r"|minum\s+racun)\b"
    ),
    "vi": (
        r"(?<!mệt\s)(?<!nóng\s)(?<!lạnh\s)(?<!đói\s)(?<!khát\s)(?<!sợ\s)(?<!tức\s)(?<!cười\s)(?<!ngủ\s)(?<!đau\s)"
        r"(?<!hổ\s)(?<!bụng\s)(?<!bận\s)(?<!mệt\squá\s)(?<!nóng\squá\s)(?<!đói\squá\s)(?<!lạnh\squá\s)(?<!bận\squá\s)muốn\s+chết|tự\s+tử|tự\s+sát|không\s+muốn\s+sống|kết\s+liễu\s+(?:đời|bản\s+thân|cuộc\s+đời)|tự\s+làm\s+hại"
        r"|(?:tự\s+)?rạch\s+tay|cắt\s+tay\s+mình|nhảy\s+(?:cầu|lầu)|\b(?<!met\s)(?<!nong\s)(?<!doi\s)(?<!qua\s)(?:muon\s+chet|khong\s+muon\s+song|tu\s+rach\s+tay)\b"
    ),
    "pl": (
        r"\b(?:chcę\s+umrzeć|chce\s+umrzec|chcę\s+się\s+zabić|zabiję\s+się|zabije\s+sie|samobójstw|samobojstw"
        r"|nie\s+chcę\s+(?:już\s+)?żyć|nie\s+chce\s+(?:juz\s+)?zyc|odebrać\s+sobie\s+życie|skończyć\s+ze\s+sobą"
        r"|się\s+zabiję|sie\s+zabije|(?:się\s+)?tnę(?:\s+się)?|(?:po)?ciąć\s+się|skoczę\s+z\s+(?:mostu|dachu|okna))"
    ),
    "nl": (
        r"\b(?:zelfmoord(?!deur)|zelfdoding|mezelf\s+snijden|snijd?\s+mezelf|ik\s+wil\s+dood(?!\s+van)|ik\s+wil\s+niet\s+meer\s+leven|wil\s+niet\s+meer\s+leven"
        r"|mezelf\s+van\s+kant\s+maken|mezelf\s+iets\s+aandoen|er\s+een\s+eind(?:e)?\s+aan\s+maken|mijn\s+leven\s+beëindigen)"
    ),
    "th": (
        r"ฆ่าตัวตาย|อยากตาย|ไม่อยากมีชีวิตอยู่|ไม่อยากอยู่แล้ว|อยากฆ่าตัวเอง|ทำร้ายตัวเอง|จบชีวิต"
        r"|กรีด(?:แขน|ข้อมือ|ตัวเอง)|กินยาเกินขนาด|กระโดดตึก|ผูกคอ"
    ),
    "es": (
        r"\b(?:suicid(?:io|arme|arse)|no\s+quiero\s+(?:seguir\s+)?vivir|quitarme\s+la\s+vida"
        r"|me\s+voy\s+a\s+matar(?!\s+(?:de|a)\s)|(?:pensando\s+en|pienso\s+en|quiero|voy\s+a|ganas\s+de)\s+matarme(?!\s+(?:de|a)\s|\s+\w+ndo\b)"
        r"|me\s+quiero\s+matar(?!\s+(?:de|a)\s|\s+\w+ndo\b)|(?:quiero|voy\s+a|ganas\s+de)\s+(?:hacerme\s+daño"
        r"|quitarme\s+de\s+en\s+medio))"
    ),
    "fr": (
        r"\b(?:suicid(?:aire|er)|je\s+ne\s+veux\s+plus\s+vivre|(?:je\s+vais|je\s+veux|envie\s+de)\s+me\s+tuer"
        r"|en\s+finir\s+avec\s+la\s+vie|mettre\s+fin\s+à\s+mes\s+jours|me\s+foutre\s+en\s+l'air"
        r"|(?:envie|besoin)\s+d'en\s+finir(?![^.!?\n]{0,40}\bavec\b)|(?:je\s+veux|je\s+vais)\s+en\s+finir(?![^.!?\n]{0,40}\bavec\b)"
        r"|(?:envie\s+de|je\s+veux|je\s+vais)\s+me\s+faire\s+du\s+mal)"
    ),
    "de": (
        r"\b(?:selbstmord|suizid\w*|ich\s+will\s+nicht\s+mehr\s+leben|mir\s+das\s+leben\s+nehmen|mich\s+töten"
        r"|(?:will|werde|möchte|würde)\s+(?:ich\s+)?mich\s+(?:\w+\s+)?umbringen|mir\s+(?:etwas|was)\s+an(?:zu)?tun|(?:will|möchte)\s+(?:nicht\s+mehr\s+leben|sterben))"
    ),
    "it": (
        r"\b(?:suicid(?:io|armi)|non\s+voglio\s+più\s+vivere|togliermi\s+la\s+vita|(?:voglio|vado\s+a)\s+uccidermi"
        r"|(?:voglio|penso\s+di|pensato\s+di|la\s+voglio)\s+(?:farla|fare)\s+finita(?!\s+con\b)|(?:voglio|vado\s+a)\s+farmi\s+del\s+male)"
    ),
    "pt": (
        r"\b(?:suic[íi]dio|(?:vou|quero|vontade\s+de|pensando\s+em|penso\s+em|pensei\s+em)\s+me\s+matar(?!\s+de\s)"
        r"|n[ãa]o\s+quero\s+mais\s+viver|(?:vou|quero|vontade\s+de)\s+me\s+(?:machucar|cortar)"
        r"|tirar\s+(?:a\s+)?minha\s+(?:própria\s+)?vida)"
    ),
}
# messages reach the guards NFKC-normalised (engine/text.py), which splits Thai's "ำ" in two: so are the rules
PHRASES: dict[str, re.Pattern[str]] = {
    lang: re.compile(unicodedata.normalize("NFKC", rx), re.IGNORECASE) for lang, rx in _PHRASES.items()
}


def self_harm_language(text: str) -> str | None:
    """The language whose self-harm phrase the text holds, or None."""
    text = unicodedata.normalize("NFKC", text)
    for lang, pattern in PHRASES.items():
        if pattern.search(text):
            return lang
    return None


# the guard's caring reply in the customer's language: no country's crisis number is right for everyone who
# writes a language, so these name the local emergency number and a crisis line (the English one names
# 988 and Samaritans, safety/guards.py)
CARING_REPLIES: dict[str, str] = {
    "zh": "听到你这样的感受，我真的很难过，也谢谢你告诉我。你不必独自面对这一切：如果你可能会按这些想法去做，"
    "请立即拨打当地的紧急电话，或联系心理危机干预热线。我也已经请我们团队的一位同事在这里联系你。",
    "ja": "そのようなお気持ちでいらっしゃること、本当につらく思います。話してくださってありがとうございます。"
    "一人で抱え込まないでください。もし実行してしまいそうなら、今すぐお住まいの地域の緊急通報番号か、"
    "いのちの電話などの相談窓口に連絡してください。私たちのチームのスタッフにも、こちらでご連絡するよう依頼しました。",
    "ko": "그런 마음이 드신다니 정말 마음이 아픕니다. 말씀해 주셔서 고맙습니다. 혼자 견디지 않으셔도 됩니다. "
    "이 생각대로 행동할 것 같다면 지금 바로 지역 긴급 전화번호나 자살 예방 상담전화에 연락해 주세요. "
    "저희 팀 직원에게도 이곳으로 연락드리도록 요청했습니다.",
    "ru": "Мне очень жаль, что вам сейчас так тяжело, и спасибо, что рассказали. Вы не обязаны справляться с этим в "
    "одиночку: если вы можете поступить так, как думаете, пожалуйста, сейчас же позвоните в местную экстренную "
    "службу или на телефон доверия. Я также попросил сотрудника нашей команды связаться с вами здесь.",
    "ar": "أنا آسف جدًا لأنك تشعر بهذا، وشكرًا لأنك أخبرتني. لست مضطرًا لمواجهة هذا وحدك: إذا كنت قد تتصرف بناءً على "
    "هذه الأفكار، فاتصل الآن برقم الطوارئ المحلي أو بخط المساعدة في الأزمات. وقد طلبت أيضًا من أحد أعضاء فريقنا "
    "التواصل معك هنا.",
    "hi": "मुझे सच में दुख है कि आप ऐसा महसूस कर रहे हैं, और मुझे खुशी है कि आपने मुझे बताया। आपको यह अकेले नहीं "
    "झेलना है: अगर आपको लगता है कि आप इन विचारों पर अमल कर सकते हैं, तो कृपया अभी अपने स्थानीय आपातकालीन नंबर "
    "या किसी संकट हेल्पलाइन पर कॉल करें। मैंने हमारी टीम के एक सदस्य से भी यहाँ आपसे संपर्क करने को कहा है।",
    "tr": "Böyle hissettiğiniz için gerçekten çok üzgünüm, bana anlattığınız için teşekkür ederim. "
    "Bununla tek başınıza "
    "yüzleşmek zorunda değilsiniz: bu düşüncelere göre davranabileceğinizi düşünüyorsanız lütfen hemen yerel acil "
    "durum numarasını ya da bir kriz destek hattını arayın. Ekibimizden birinin de size buradan ulaşmasını istedim.",
    "id": "Saya sungguh turut sedih Anda merasa seperti ini, dan terima kasih sudah bercerita. Anda tidak harus "
    "menghadapinya sendirian: jika Anda mungkin akan melakukan apa yang Anda pikirkan, segera hubungi nomor darurat "
    "setempat atau layanan krisis. Saya juga sudah meminta salah satu anggota tim kami untuk menghubungi Anda di sini.",
    "vi": "Tôi thật sự rất tiếc khi bạn đang cảm thấy như vậy, và cảm ơn bạn đã chia sẻ. Bạn không phải đối mặt với "
    "điều này một mình: nếu bạn có thể làm theo những suy nghĩ đó, hãy gọi ngay số khẩn cấp tại nơi bạn sống hoặc "
    "một đường dây hỗ trợ khủng hoảng. Tôi cũng đã nhờ một thành viên trong đội của chúng tôi liên hệ với bạn tại đây.",
    "pl": "Bardzo mi przykro, że tak się czujesz, i dziękuję, że mi o tym napisałeś. Nie musisz mierzyć się z tym sam: "
    "jeśli możesz zrobić sobie krzywdę, zadzwoń teraz pod lokalny numer alarmowy albo na telefon zaufania. "
    "Poprosiłem też kogoś z naszego zespołu, żeby skontaktował się z Tobą tutaj.",
    "nl": "Het spijt me echt dat je je zo voelt, en fijn dat je het me vertelt. Je hoeft dit niet alleen "
    "te doen: als je "
    "misschien iets met deze gedachten gaat doen, bel dan nu het lokale alarmnummer of een hulplijn voor "
    "crisissituaties. Ik heb ook iemand van ons team gevraagd om hier contact met je op te nemen.",
    "th": "เสียใจจริง ๆ ที่คุณรู้สึกแบบนี้ และขอบคุณที่บอกเรา คุณไม่จำเป็นต้องเผชิญเรื่องนี้เพียงลำพัง "
    "หากคุณอาจทำตามความคิดนั้น โปรดโทรหาหมายเลขฉุกเฉินในพื้นที่ของคุณหรือสายด่วนช่วยเหลือทันที "
    "เราได้ขอให้ทีมงานของเราติดต่อคุณที่นี่แล้วด้วย",
    "es": "Siento mucho que te sientas así, y gracias por contármelo. No tienes que pasar por esto solo: si crees que "
    "podrías actuar según estos pensamientos, llama ahora al número de emergencias de tu país o a una línea de ayuda "
    "en crisis. También he pedido a una persona de nuestro equipo que se ponga en contacto contigo aquí.",
    "fr": "Je suis vraiment désolé que vous vous sentiez ainsi, et merci de me l'avoir dit. Vous n'avez pas "
    "à affronter cela seul : si vous risquez de passer à l'acte, appelez maintenant le numéro d'urgence "
    "local ou une ligne "
    "d'écoute de crise. J'ai aussi demandé à un membre de notre équipe de vous contacter ici.",
    "de": "Es tut mir wirklich leid, dass es Ihnen so geht, und danke, dass Sie es mir sagen. Sie müssen das nicht "
    "allein durchstehen: Wenn Sie diesen Gedanken folgen könnten, rufen Sie bitte jetzt den örtlichen Notruf oder "
    "eine Krisen-Hotline an. Ich habe außerdem ein Mitglied unseres Teams gebeten, sich hier bei Ihnen zu melden.",
    "it": "Mi dispiace davvero che tu ti senta così, e grazie per avermelo detto. Non devi affrontarlo da solo: se "
    "pensi di poter mettere in atto questi pensieri, chiama subito il numero di emergenza locale o una "
    "linea di ascolto "
    "per le crisi. Ho anche chiesto a una persona del nostro team di contattarti qui.",
    "pt": "Sinto muito que você esteja se sentindo assim, e obrigado por me contar. Você não precisa enfrentar isso "
    "sozinho: se achar que pode agir de acordo com esses pensamentos, ligue agora para o número de emergência local "
    "ou para uma linha de apoio em crise. Também pedi a uma pessoa da nossa equipe que entre em contato com você aqui.",
}


# where no agent's reply can come back (the terminal chat, REST without a callback): the same words without
# "here" (engine/replies.py handover_text does the same for the other hand-overs)
_HERE = {
    "zh": ("在这里联系你", "联系你"),
    "ja": ("こちらでご連絡するよう", "ご連絡するよう"),
    "ko": ("이곳으로 연락드리도록", "연락드리도록"),
    "ru": ("связаться с вами здесь.", "связаться с вами."),
    "ar": ("التواصل معك هنا.", "التواصل معك."),
    "hi": ("यहाँ आपसे संपर्क करने", "आपसे संपर्क करने"),
    "tr": ("size buradan ulaşmasını", "size ulaşmasını"),
    "id": ("menghubungi Anda di sini.", "menghubungi Anda."),
    "vi": ("liên hệ với bạn tại đây.", "liên hệ với bạn."),
    "pl": ("skontaktował się z Tobą tutaj.", "skontaktował się z Tobą."),
    "nl": ("om hier contact met je op te nemen.", "om contact met je op te nemen."),
    "th": ("ติดต่อคุณที่นี่แล้วด้วย", "ติดต่อคุณแล้วด้วย"),
    "es": ("contigo aquí.", "contigo."),
    "fr": ("de vous contacter ici.", "de vous contacter."),
    "de": ("sich hier bei Ihnen zu melden.", "sich bei Ihnen zu melden."),
    "it": ("di contattarti qui.", "di contattarti."),
    "pt": ("entre em contato com você aqui.", "entre em contato com você."),
    "en": ("to reach out to you here.", "to reach out to you."),
}


def without_here(text: str, language: str) -> str:
    """The caring reply with its promise to follow up *here* taken out (the wording is each language's own)."""
    here, elsewhere = _HERE[language]
    if text.count(here) != 1:
        raise ValueError(f"the {language} caring reply no longer says {here!r} once")
    return text.replace(here, elsewhere)


CARING_ELSEWHERE = {lang: without_here(text, lang) for lang, text in CARING_REPLIES.items()}


def caring_language(text: str) -> str | None:
    """The language to care for the customer in: that of the message's self-harm phrase, else the
    message's own (even where fixed replies are set to one language: someone in crisis is answered in the
    language they wrote), else its script's (a Ukrainian or Bulgarian message is cared for in Russian, a
    Persian or Urdu one in Arabic: closer than English), else None (English)."""
    lang = self_harm_language(text) or detect_language(text) or script_of(text)
    return lang if lang in CARING_REPLIES else None


def caring_reply(text: str, english: str, way_back: bool = True) -> str:
    """The caring reply in the customer's language (`caring_language`), else `english`; without "here" where
    no agent's reply can reach the conversation (`way_back` False)."""
    lang = caring_language(text)
    if lang is None:
        return english if way_back else without_here(english, "en")
    return CARING_REPLIES[lang] if way_back else CARING_ELSEWHERE[lang]
