#include "crypto/error.hpp"
#include "crypto/xml.hpp"
#include "protocols/text_rules.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace sceau;
using protocols::is_mailbox;
using protocols::text_fault;

TEST_CASE("plain mailboxes are accepted, in ASCII or in one script of UTF-8", "[protocols][text]") {
    for (const char* address :
         {"claire.martin@example.org", "c+lre@mail.example.fr", "o'brien@example.ie",
          "a_b-c@sub-domain.example.com", "élodie.marchand@exemple.fr", "用户@例子.广告",
          "андрей@пример.рф", "x@example.xn--p1ai"}) {
        INFO(address);
        CHECK(is_mailbox(address));
    }
}

TEST_CASE("addresses that SMTP would refuse or a reader would take for another are refused",
          "[protocols][text]") {
    std::string long_local(65, 'a');
    std::string long_label(64, 'b');
    for (const std::string& address :
         std::vector<std::string>{"claire@exаmple.org", // a Cyrillic "а" among Latin letters
                                  "сlaire@example.org", // a Cyrillic "с" starts the local part
                                  "claire(comment)@example.org", // an RFC 5322 comment
                                  "\"claire martin\"@example.org",
                                  "claire@[192.0.2.1]",
                                  "a:b@example.org",
                                  "claire@-example.org",
                                  "claire@example-.org",
                                  "claire@1.2.3.4",
                                  "claire@example",
                                  ".claire@example.org",
                                  "claire.@example.org",
                                  "cla..ire@example.org",
                                  "@example.org",
                                  "claire@",
                                  "claire@example..org",
                                  "claire@exam_ple.org",
                                  "a@b@example.org",
                                  long_local + "@example.org",
                                  "a@" + long_label + ".example",
                                  "claire@example.org\u202e",
                                  "claire\r\n@example.org",
                                  "claire@exa\xffmple.org"}) {
        INFO(address);
        CHECK_FALSE(is_mailbox(address));
    }
}

TEST_CASE("texts with controls, bidirectional formatting or bad UTF-8 are named for what they hold",
          "[protocols][text]") {
    CHECK_FALSE(text_fault("Mise en demeure – facture 2026-118"));
    CHECK_FALSE(text_fault("مريم الحسن")); // right-to-left text needs no formatting character
    CHECK(text_fault("a\x1b[31m") == "contains control characters");
    CHECK(text_fault("a\u0085b") == "contains control characters");
    CHECK(text_fault("line\u2028break") == "contains control characters");
    CHECK(text_fault("Mar\u202etin") == "contains bidirectional formatting characters");
    CHECK(text_fault("x\u2066y\u2069") == "contains bidirectional formatting characters");
    CHECK(text_fault("\u200fx") == "contains bidirectional formatting characters");
    CHECK(text_fault("Bad\xff\xfe") == "is not valid UTF-8");
    CHECK(text_fault("\xed\xa0\x80") == "is not valid UTF-8"); // a surrogate
    CHECK(text_fault(std::string("a\0b", 3)) == "contains control characters");
}

TEST_CASE("evidence text that is not XML 1.0 characters is refused, not written", "[crypto][xml]") {
    crypto::xml_doc_ptr doc(xmlNewDoc(reinterpret_cast<const xmlChar*>("1.0")));
    xmlNode* root =
        xmlNewDocNode(doc.get(), nullptr, reinterpret_cast<const xmlChar*>("r"), nullptr);
    xmlDocSetRootElement(doc.get(), root);

    crypto::add_text_element(root, nullptr, "ok", "Élodie Marchand <claire@example.org> &\t\r\n");
    crypto::set_attribute(root, "ok", "Étude Durand");
    for (std::string bad : {std::string("Evil\x1b[31m"), std::string("Bad\xff\xfe"),
                            std::string("cut\0short", 9), std::string("\xef\xbf\xbe")}) {
        INFO(bad);
        CHECK_THROWS_AS(crypto::add_text_element(root, nullptr, "bad", bad), crypto::error);
        CHECK_THROWS_AS(crypto::set_attribute(root, "bad", bad), crypto::error);
    }
    // Only the good text is in the document, which parses back.
    auto xml = crypto::serialize(doc.get());
    CHECK(xml.find("<bad") == std::string::npos);
    CHECK(crypto::parse_xml(xml));
}
